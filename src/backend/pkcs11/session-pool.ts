/**
 * A bounded pool of PKCS#11 sessions. A session is used by one operation at a time (PKCS#11
 * operations are stateful per session). What happens to a session after a failure is decided by
 * the error (token-runtime.ts tests the session first): kept after bad input, closed when it is
 * gone, and set aside — closed only once the call returns — when a call on it timed out, so a
 * hung HSM call never holds a place in the pool.
 */
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { HsmError, sessionUsable } from './errors.js';
import type { HsmCalls } from './hsm-calls.js';
import { HsmTimeoutError } from './hsm-calls.js';

const P = pkcs11js;

export class SessionPool {
  private readonly idle: Handle[] = [];
  private readonly waiters: Array<() => void> = [];
  private open = 0;
  private inUse = 0;
  private abandoned = 0;
  private drains = 0;
  private closed = false;
  private generation = 0;
  private readonly born = new WeakMap<Handle, number>();

  constructor(
    private readonly calls: HsmCalls,
    private readonly slot: Handle,
    private readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('poolSize must be a positive integer');
  }

  /** Runs `fn` with a session of its own. Errors pass through; sessions they broke are dropped. */
  use<T>(fn: (session: Handle) => T | Promise<T>): Promise<T> {
    // Fast path without an extra promise hop: an idle session is there most of the time.
    const idle = !this.closed ? this.idle.pop() : undefined;
    if (idle) {
      this.inUse++;
      return this.runOn(idle, fn);
    }
    return this.acquire().then((session) => this.runOn(session, fn));
  }

  private async runOn<T>(session: Handle, fn: (session: Handle) => T | Promise<T>): Promise<T> {
    try {
      const result = await fn(session);
      this.release(session, true);
      return result;
    } catch (e) {
      if (e instanceof HsmTimeoutError) this.abandon(session, e.settled);
      else this.release(session, sessionUsable(e));
      throw e;
    }
  }

  /**
   * Sessions in use / idle, sessions set aside behind a hung call, and how often the pool was
   * drained (every session closed because the device or the login was lost).
   */
  stats(): { sessionsInUse: number; sessionsIdle: number; sessionsAbandoned: number; poolDrains: number } {
    return { sessionsInUse: this.inUse, sessionsIdle: this.idle.length, sessionsAbandoned: this.abandoned, poolDrains: this.drains };
  }

  /** Closes idle sessions now; sessions in use are closed when they come back. */
  drain(): void {
    for (const s of this.idle.splice(0)) {
      this.closeQuietly(s);
      this.open--;
    }
    this.generation++;
    this.drains++;
  }

  /** Closes everything and refuses further use. */
  close(): void {
    this.closed = true;
    this.drain();
    for (const w of this.waiters.splice(0)) w();
  }

  private async acquire(): Promise<Handle> {
    for (;;) {
      if (this.closed) throw new HsmError('ERR_BACKEND_CLOSED', 0, 'SessionPool', 'unavailable', 'The key backend is closed.');
      const s = this.idle.pop();
      if (s) {
        this.inUse++;
        return s;
      }
      if (this.open < this.size) {
        this.open++;
        this.inUse++;
        try {
          const session = await this.calls.call('C_OpenSession', this.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
          this.born.set(session, this.generation);
          return session;
        } catch (e) {
          this.open--;
          this.inUse--;
          this.waiters.shift()?.();
          throw e;
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(session: Handle, usable: boolean): void {
    this.inUse--;
    if (usable && !this.closed && this.born.get(session) === this.generation) this.idle.push(session);
    else {
      this.closeQuietly(session);
      this.open--;
    }
    this.waiters.shift()?.();
  }

  /** The session's call hung: free its place now, close it once the call has returned. */
  private abandon(session: Handle, settled: Promise<unknown>): void {
    this.inUse--;
    this.open--;
    this.abandoned++;
    void settled.then(() => {
      this.abandoned--;
      this.closeQuietly(session);
    });
    this.waiters.shift()?.();
  }

  private closeQuietly(session: Handle): void {
    // Errors are irrelevant: the session is being replaced, or already gone.
    void Promise.resolve()
      .then(() => this.calls.call('C_CloseSession', session))
      .catch(() => undefined);
  }
}
