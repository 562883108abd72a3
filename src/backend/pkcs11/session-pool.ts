/**
 * A bounded pool of PKCS#11 sessions. A session is used by one operation at a time (PKCS#11
 * operations are stateful per session). Sessions that hit a session-fatal or device error are
 * closed instead of returned; the next caller opens a fresh one.
 */
import type { Handle, PKCS11 } from 'pkcs11js';
import { HsmError } from '../../core/errors.js';
import { closeQuietly, openSession } from './module.js';

export class SessionPool {
  private readonly idle: Handle[] = [];
  private readonly waiters: Array<() => void> = [];
  private open = 0;
  private inUse = 0;
  private closed = false;

  constructor(
    private readonly module: PKCS11,
    private readonly slot: Handle,
    private readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('poolSize must be a positive integer');
  }

  /** Runs `fn` with a session of its own. Errors pass through; failed sessions are dropped. */
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
    let healthy = true;
    try {
      return await fn(session);
    } catch (e) {
      // A data error leaves the session usable; anything else may have broken it.
      healthy = e instanceof HsmError && (e.kind === 'data' || e.kind === 'config');
      throw e;
    } finally {
      this.release(session, healthy);
    }
  }

  stats(): { sessionsInUse: number; sessionsIdle: number } {
    return { sessionsInUse: this.inUse, sessionsIdle: this.idle.length };
  }

  /** Closes idle sessions now; sessions in use are closed when they come back. */
  drain(): void {
    for (const s of this.idle.splice(0)) {
      this.live.delete(s);
      closeQuietly(this.module, s);
      this.open--;
    }
    this.generation++;
  }

  /** Closes everything and refuses further use. */
  close(): void {
    this.closed = true;
    this.drain();
    for (const w of this.waiters.splice(0)) w();
  }

  /** Every open session, for the test hook that kills them behind the pool's back. */
  liveSessions(): Handle[] {
    return [...this.live];
  }

  private readonly live = new Set<Handle>();

  private generation = 0;
  private readonly born = new WeakMap<Handle, number>();

  private async acquire(): Promise<Handle> {
    for (;;) {
      if (this.closed) throw new HsmError('CKR_CRYPTOKI_NOT_INITIALIZED', 0x190, 'SessionPool', 'device', 'The key backend is closed.');
      const s = this.idle.pop();
      if (s) {
        this.inUse++;
        return s;
      }
      if (this.open < this.size) {
        this.open++;
        try {
          const session = openSession(this.module, this.slot);
          this.born.set(session, this.generation);
          this.live.add(session);
          this.inUse++;
          return session;
        } catch (e) {
          this.open--;
          throw e;
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(session: Handle, healthy: boolean): void {
    this.inUse--;
    if (healthy && !this.closed && this.born.get(session) === this.generation) this.idle.push(session);
    else {
      this.live.delete(session);
      closeQuietly(this.module, session);
      this.open--;
    }
    this.waiters.shift()?.();
  }
}
