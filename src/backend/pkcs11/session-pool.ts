/**
 * A bounded pool of PKCS#11 sessions. A session is used by one operation at a time (PKCS#11
 * operations are stateful per session). What happens to a session after a failure is decided by
 * the error (token-runtime.ts tests the session first): kept after bad input, closed when it is
 * gone, and set aside — closed only once the call returns — when a call on it timed out, so a
 * hung HSM call never holds a place in the pool.
 *
 * Queueing behind a busy session ({@link SessionPool.useForOneJob}): when every session is busy,
 * an operation that makes exactly one HSM job on its session (an AES-GCM Encrypt or Decrypt) may
 * take a session whose one holder is also such an operation, and queue its job behind that
 * holder's on the same worker thread (cryptoki-threads.ts). The thread starts it the moment the
 * first returns, instead of after the answer has gone back through a busy event loop and the
 * session was lent again: with a network HSM that hand-off is idle time of the session. Only where
 * the profile runs these jobs on worker threads; one job queued per session at most. The second
 * holder's jobs are fenced: skipped, never run, when the job before them failed (the session is
 * then judged by its first holder, and the second tries again elsewhere); and cancelled when the
 * call before them hangs. A session comes back to the pool when its last holder is done.
 */
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { HsmError, sessionGone, sessionUsable } from './errors.js';
import { JobSkipped } from './cryptoki-threads.js';
import type { HsmCalls } from './hsm-calls.js';
import { HsmTimeoutError } from './hsm-calls.js';

const P = pkcs11js;

/** Who holds a session now. */
interface Holding {
  holders: number;
  /** Every holder makes one job on it (a second may then queue behind the first). */
  oneJob: boolean;
  /** A holder found it unusable: it is closed when the last holder is done. */
  unusable: boolean;
  /** The module said it is closed already: it is forgotten, not closed, when the last holder is done. */
  gone: boolean;
  /** A holder's job on it failed or was skipped: no second holder joins until it is idle again. */
  tainted: boolean;
  /** Its call hung: the pool already let it go; it is closed once the call returns. */
  abandoned: boolean;
}

export class SessionPool {
  private readonly idle: Handle[] = [];
  /**
   * Callers waiting for a session, in order; `oneJob` ones may also take a place behind a busy
   * one. A session (or a place) that frees is granted to the first waiter directly, so callers
   * arriving meanwhile cannot overtake it; `undefined` tells a waiter to look again.
   */
  private readonly waiters: Array<{ oneJob: boolean; grant: (lent: [session: Handle, handle: Handle] | undefined) => void }> = [];
  private open = 0;
  private inUse = 0;
  private abandoned = 0;
  private drains = 0;
  private queued = 0;
  private readonly holdings = new Map<Handle, Holding>();
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
    return this.lend(fn, false);
  }

  /**
   * Runs `fn`, which makes exactly one HSM job on the session it is given, with a session of its
   * own, or, when every session is busy, queued behind another such job on a busy session (see
   * above). Errors pass through as with {@link use}.
   */
  useForOneJob<T>(fn: (session: Handle) => T | Promise<T>): Promise<T> {
    return this.lend(fn, true);
  }

  private lend<T>(fn: (session: Handle) => T | Promise<T>, oneJob: boolean): Promise<T> {
    // Fast path without an extra promise hop: an idle session is there most of the time.
    const idle = !this.closed ? this.idle.pop() : undefined;
    if (idle) return this.runOn(this.hold(idle, oneJob), idle, fn, oneJob);
    const busy = oneJob && this.waiters.length === 0 ? this.queueable() : undefined;
    if (busy) return this.runOn(busy, this.join(busy), fn, oneJob);
    return this.acquire(oneJob).then(([session, handle]) => this.runOn(session, handle, fn, oneJob));
  }

  /** A second holder takes a place behind the first; its handle's jobs are fenced. */
  private join(session: Handle): Handle {
    this.holdings.get(session)!.holders++;
    this.queued++;
    return this.calls.fencedHandle(session);
  }

  /** A busy session a one-job operation may queue behind, if any. */
  private queueable(): Handle | undefined {
    if (this.closed || !this.calls.initRunsOnThreads || this.open < this.size) return undefined;
    for (const [session, h] of this.holdings) if (h.holders === 1 && h.oneJob && !h.tainted && !h.unusable && !h.abandoned) return session;
    return undefined;
  }

  /** The first holder of a session: a new generation of its jobs starts. */
  private hold(session: Handle, oneJob: boolean): Handle {
    this.holdings.set(session, { holders: 1, oneJob, unusable: false, gone: false, tainted: false, abandoned: false });
    this.calls.newGeneration(session);
    this.inUse++;
    return session;
  }

  private async runOn<T>(session: Handle, handle: Handle, fn: (session: Handle) => T | Promise<T>, oneJob: boolean): Promise<T> {
    let result: T;
    try {
      result = await fn(handle);
    } catch (e) {
      if (e instanceof JobSkipped) {
        // Nothing ran: the session is its other holder's to judge. Try again elsewhere.
        this.release(session, true, true);
        return this.lend(fn, oneJob);
      }
      if (e instanceof HsmTimeoutError && e.hungOn(session)) this.abandon(session, e.settled);
      // A call on another session hung (the owner's, unwrapping a key): this one never waited.
      else this.release(session, e instanceof HsmTimeoutError || sessionUsable(e), true, !(e instanceof HsmTimeoutError) && sessionGone(e));
      throw e;
    }
    this.release(session, true, false);
    return result;
  }

  /**
   * Sessions in use / idle, sessions set aside behind a hung call, and how often the pool was
   * drained (every session closed because the device or the login was lost).
   */
  stats(): { sessionsInUse: number; sessionsIdle: number; sessionsAbandoned: number; poolDrains: number; jobsQueuedOnBusySessions: number } {
    return {
      sessionsInUse: this.inUse,
      sessionsIdle: this.idle.length,
      sessionsAbandoned: this.abandoned,
      poolDrains: this.drains,
      jobsQueuedOnBusySessions: this.queued,
    };
  }

  /**
   * Closes idle sessions now (`gone`: forgets them, the token closed them already); sessions in
   * use are closed when they come back.
   */
  drain(gone = false): void {
    for (const s of this.idle.splice(0)) {
      if (gone) this.calls.forgetSession(s);
      else this.closeQuietly(s);
      this.open--;
    }
    this.generation++;
    this.drains++;
  }

  /** Closes everything and refuses further use. */
  close(): void {
    this.closed = true;
    this.drain();
    for (const w of this.waiters.splice(0)) w.grant(undefined);
  }

  /** A session to hold, and the handle to use it by. */
  private async acquire(oneJob: boolean): Promise<[session: Handle, handle: Handle]> {
    for (;;) {
      if (this.closed) throw new HsmError('ERR_BACKEND_CLOSED', 0, 'SessionPool', 'unavailable', 'The key backend is closed.');
      const s = this.idle.pop();
      if (s) return [this.hold(s, oneJob), s];
      if (this.open < this.size) {
        this.open++;
        try {
          const session = await this.calls.call('C_OpenSession', this.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
          this.born.set(session, this.generation);
          return [this.hold(session, oneJob), session];
        } catch (e) {
          this.open--;
          this.waiters.shift()?.grant(undefined);
          throw e;
        }
      }
      const busy = oneJob ? this.queueable() : undefined;
      if (busy) return [busy, this.join(busy)];
      const lent = await new Promise<[Handle, Handle] | undefined>((grant) => this.waiters.push({ oneJob, grant }));
      if (lent) return lent;
    }
  }

  /**
   * One holder is done with the session (`failed`: its job did not succeed; `gone`: the module
   * said the session is closed already); the last one gives it back, closes it or forgets it.
   */
  private release(session: Handle, usable: boolean, failed: boolean, gone = false): void {
    const h = this.holdings.get(session)!;
    if (!usable) h.unusable = true;
    if (gone) h.gone = true;
    if (failed) h.tainted = true;
    if (--h.holders > 0) {
      // One holder left: a one-job caller waiting may take the place behind it.
      if (h.oneJob && !h.tainted && !h.unusable && !h.abandoned && !this.closed) {
        const i = this.waiters.findIndex((w) => w.oneJob);
        if (i >= 0) this.waiters.splice(i, 1)[0]!.grant([session, this.join(session)]);
      }
      return;
    }
    this.holdings.delete(session);
    if (h.abandoned) return; // closed once its hung call returns
    this.inUse--;
    if (!h.unusable && !this.closed && this.born.get(session) === this.generation) {
      const next = this.waiters.shift();
      if (next) next.grant([this.hold(session, next.oneJob), session]);
      else this.idle.push(session);
    } else {
      // A session the module closed itself is not closed again: an HSM that reuses session
      // numbers may have given its number to another session of this process meanwhile.
      if (h.gone) this.calls.forgetSession(session);
      else this.closeQuietly(session);
      this.open--;
      this.waiters.shift()?.grant(undefined);
    }
  }

  /** The session's call hung: free its place now, close it once the call has returned. */
  private abandon(session: Handle, settled: Promise<unknown>): void {
    const h = this.holdings.get(session)!;
    if (!h.abandoned) {
      h.abandoned = true;
      this.inUse--;
      this.open--;
      this.abandoned++;
      void settled.then(() => {
        this.abandoned--;
        this.closeQuietly(session);
      });
      // A job queued behind the hung call would wait for it: it fails now and runs elsewhere.
      this.calls.cancelPending(session);
    }
    if (--h.holders === 0) this.holdings.delete(session);
    this.waiters.shift()?.grant(undefined);
  }

  private closeQuietly(session: Handle): void {
    // Errors are irrelevant: the session is being replaced, or already gone.
    void Promise.resolve()
      .then(() => this.calls.call('C_CloseSession', session))
      .catch(() => undefined)
      .finally(() => this.calls.forgetSession(session));
  }
}
