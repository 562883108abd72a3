/**
 * The machinery every user of a PKCS#11 token shares: a session pool, an owner session that holds
 * the login (and, for the default store, the unwrapped key objects), and recovery. The default
 * store (token-runtime.ts) and the token-backed custom key stores and XKS keys (token-keyring.ts)
 * build on it, so a failure on any token is judged and recovered from the same way.
 *
 * How a failure is handled (the order matters):
 * 1. Its return code is classified (errors.ts). Bad input (`data`, and `input` when the caller
 *    chose the input) is final: the session goes back to the pool, nothing is recovered.
 * 2. A code that may mean a broken session (`ambiguous`, `fatal`) is not believed on its own:
 *    the session is tested with a cheap call (C_GetSessionInfo) first. If it answers, logged in,
 *    an ambiguous code is the input's fault when the caller chose the input (no recovery);
 *    otherwise the operation is retried on another session and only this one is closed (after
 *    a lost login, the cached handles are forgotten and the login renewed first; after a stale
 *    handle, the handles are looked up again). A forgotten handle still in use is refused before
 *    it reaches the token, and its operation retried (handle-cache.ts, epochs). Only a session
 *    that fails the test is recovered from: dropped, and when the device itself is gone every
 *    session with it and the owner session reopened.
 *    So no request, whatever its input, can make the service drain its pool.
 * 3. A call that does not answer in time fails with a timeout; its session is set aside until the
 *    call returns, and nothing else waits for it.
 *
 * Recovery never calls C_Finalize: other code in this process (the TLS engine) may share the
 * module. "Re-initialising" after a device failure therefore means: drop every session, open a
 * new owner session, log in again and look the token keys up again.
 */
import { createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import type { Logger } from '../../core/ports.js';
import { RepeatedLines } from '../../observability/repeated-lines.js';
import { classOf, hsmError, HsmError, LOGIN_REFUSED, returnValueOf, sessionMayBeBroken, StaleHandleError, toHsmError, type Blame, type Recovery } from './errors.js';
import { HsmTimeoutError, type HsmCalls } from './hsm-calls.js';
import { retryTransient } from './module.js';
import type { HsmProfile } from './profiles.js';
import type { SessionPool } from './session-pool.js';

const P = pkcs11js;
const MAX_RETRIES = 3;
/** How long a login refused otherwise than as incorrect (a locked user) is not tried again with the same PIN. */
const REFUSED_LOGIN_RETRY_MS = 60_000;
/** Session states in which the normal user is logged in: CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS. */
const USER_STATES: ReadonlySet<number> = new Set([1, 3]);
/** Probe failures that mean the device, not just one session, lost its state. */
const DEVICE_GONE: ReadonlySet<string> = new Set([
  'CKR_DEVICE_ERROR',
  'CKR_DEVICE_MEMORY',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SLOT_ID_INVALID',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
]);
/** Return codes of an object handle that no longer names its object. */
export const HANDLE_GONE: ReadonlySet<string> = new Set(['CKR_KEY_HANDLE_INVALID', 'CKR_OBJECT_HANDLE_INVALID']);

/** Sessions, the owner session and recovery on one token; subclasses add what they keep in it. */
export abstract class SessionRuntime {
  protected recovering: Promise<void> | undefined;
  protected ownerQueue: Promise<unknown> = Promise.resolve();
  protected closed = false;
  /** A SHA-256 of the last PIN the token refused as incorrect (CKR_PIN_INCORRECT): never sent again. */
  private refusedPin: Buffer | undefined;
  /**
   * The last login refused (a LOGIN_REFUSED code), until one succeeds: every request and health
   * check then meets the refusal again, and the lines its recovery logs are rate-limited. Its PIN
   * (a SHA-256) is not sent again within REFUSED_LOGIN_RETRY_MS (a locked user stays locked).
   */
  private refusal: { pin: Buffer; code: string; at: number } | undefined;
  private readonly refusedLines = new RepeatedLines();

  protected constructor(
    /** The loaded module; exposed to sibling modules (key import), not part of KeyBackend. */
    readonly module: PKCS11,
    /** Every request-path Cryptoki call goes through here. */
    readonly calls: HsmCalls,
    protected readonly slot: Handle,
    readonly profile: HsmProfile,
    protected readonly pool: SessionPool,
    protected readonly log: Logger,
    protected owner: Handle,
  ) {}

  /** The user PIN, read when a login is needed (never kept). */
  protected abstract userPin(): string | Promise<string>;

  /** Forgets cached object handles (they may be stale); never destroys them. */
  protected forgetHandles(): void {}

  /** Looks up again the token objects the subclass keeps handles of, after a new login or stale handles. */
  protected async reloadKeys(_session: Handle): Promise<void> {}

  /**
   * Runs one PKCS#11 operation on a pooled session. Failures are judged as described above; what
   * can be recovered from is, and the operation retried a few times at most (a failover can hit
   * one operation twice). `oneJob`: `fn` makes exactly one HSM job on its session, so it may
   * queue behind another on a busy session (SessionPool.useForOneJob).
   */
  protected async run<T>(name: string, fn: (session: Handle) => Promise<T> | T, blame: Blame = {}, oneJob = false): Promise<T> {
    const judged = async (s: Handle): Promise<T> => {
      try {
        return await fn(s);
      } catch (e) {
        throw await this.judge(e, name, blame, s);
      }
    };
    for (let attempt = 0; ; attempt++) {
      let failure: HsmError;
      try {
        return await (oneJob ? this.pool.useForOneJob(judged) : this.pool.use(judged));
      } catch (e) {
        failure = toHsmError(e, name, blame);
      }
      // A cached handle's epoch ended under the operation (the owner session was replaced, the
      // login renewed): nothing reached the token, and the next attempt looks the handle up again.
      if (failure instanceof StaleHandleError && !this.closed && attempt < MAX_RETRIES) continue;
      if (this.closed || attempt >= MAX_RETRIES || failure.recovery === 'none') throw failure;
      this.warnRecovery({ ...failure.logFields(), op: name, attempt }, 'PKCS#11 call failed; recovering and retrying');
      try {
        await this.recover(failure.recovery);
      } catch (e) {
        const error = toHsmError(e, 'recover');
        this.warnRecovery({ ...error.logFields(), op: name, attempt }, 'PKCS#11 recovery failed');
        // The token refused the login the operation needs: another attempt cannot succeed, and the
        // caller is told that (not what the operation met without the login, e.g. no domain key).
        if (error.kind === 'credentials') throw error;
        // The device may still be away; the next attempt fails again or finds it back.
      }
    }
  }

  /**
   * A recovery line. While logins are refused each line (by message and code) is logged at first,
   * then at most once a minute with the count held back (RepeatedLines): a client polling /health
   * must not fill the log. The refusal of a new PIN and the login restored are logged at once.
   */
  private warnRecovery(fields: Record<string, unknown>, message: string): void {
    if (!this.refusal) return this.log.warn(fields, message);
    const admitted = this.refusedLines.admit(`${message}\u0000${String(fields.ckr)}`);
    if (admitted) this.log.warn({ ...fields, ...admitted }, message);
  }

  /** Decides what a failure on `session` means, testing the session when the code is not conclusive. */
  protected async judge(error: unknown, name: string, blame: Blame, session: Handle): Promise<unknown> {
    if (error instanceof HsmError || !returnValueOf(error)) return error;
    const hsm = toHsmError(error, name, blame);
    const cls = classOf(hsm.code);
    if (hsm.kind === 'data' || !sessionMayBeBroken(cls)) return hsm.judged(hsm.kind, 'none');
    const probe = await this.probe(session);
    if (probe === 'ok') {
      // The session answers: an inconclusive failure is the input's when the caller chose the
      // input. Otherwise it was a passing failure of the device, which may have left this session
      // mid-operation (a C_Encrypt that never ran after its C_EncryptInit did): another session
      // takes the retry, and only this one is closed — unless the module said it was closed
      // already (`gone`): then its number answering may mean it is another session's now.
      if (cls === 'ambiguous' && blame.callerInput) return hsm.judged('data', 'none');
      return hsm.judged('unavailable', HANDLE_GONE.has(hsm.code) ? 'handles' : 'replace');
    }
    if (probe === 'logged-out') return hsm.judged('unavailable', 'relogin');
    if (probe instanceof HsmTimeoutError) return probe;
    const removed = probe.sessionGone && DEVICE_GONE.has(probe.code);
    return hsm.judged('unavailable', removed ? 'removed' : DEVICE_GONE.has(probe.code) ? 'device' : 'session', hsm.sessionGone || probe.sessionGone);
  }

  /** What an owner session that failed its test needs; one the module closed itself is not closed again. */
  protected ownerRecovery(probe: 'logged-out' | HsmError): Recovery {
    if (probe === 'logged-out') return 'relogin';
    if (!probe.sessionGone) return 'device';
    return DEVICE_GONE.has(probe.code) ? 'removed' : 'owner';
  }

  /**
   * Why a search for the token's private objects on `session` found none, when the session lacks
   * the login (it sees no private object then): a failure that renews the login and retries, rather
   * than one saying the object is not in the token. Undefined when the session holds the login.
   */
  protected async withoutLogin(session: Handle, fn: string): Promise<HsmError | undefined> {
    if ((await this.probe(session)) !== 'logged-out') return undefined;
    return new HsmError('CKR_USER_NOT_LOGGED_IN', P.CKR_USER_NOT_LOGGED_IN, fn, 'unavailable', `${fn} found nothing: the session does not hold the login, and sees no private object.`, 'relogin');
  }

  /** The cheap call that tells a live, logged-in session from a broken one. */
  protected async probe(session: Handle): Promise<'ok' | 'logged-out' | HsmError> {
    try {
      const info = await this.calls.call('C_GetSessionInfo', session);
      return USER_STATES.has(info.state) ? 'ok' : 'logged-out';
    } catch (e) {
      return toHsmError(e, 'C_GetSessionInfo');
    }
  }

  protected recover(recovery: Recovery): Promise<void> {
    // Nothing to do beyond what the pool did with the session (kept, or closed for `replace`).
    if (recovery === 'replace' || recovery === 'none') return Promise.resolve();
    this.recovering ??= this.doRecover(recovery).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  protected async doRecover(recovery: Recovery): Promise<void> {
    switch (recovery) {
      case 'replace':
        return;
      case 'relogin':
        // A logout destroyed the private session objects (PKCS#11: C_Logout) and freed their
        // handle numbers: the cached handles end with it, before a new object can take a number.
        this.forgetHandles();
        await this.login(this.owner);
        await this.reloadKeys(this.owner);
        return;
      case 'handles':
        // A cached object vanished although its owner session lives: trust no cached handle.
        // They are forgotten, not destroyed (a stale number must never be destroyed).
        this.forgetHandles();
        await this.reloadKeys(this.owner);
        return;
      case 'session': {
        // The failed session is already closed. A session that vanished rarely vanished alone
        // (a failover, a logout): drop the idle ones too, and the owner if it went with them.
        this.pool.drain();
        const owner = await this.probe(this.owner);
        if (owner === 'ok') return;
        await this.resetOwner(owner instanceof HsmError && owner.sessionGone);
        return;
      }
      case 'device':
        this.pool.drain();
        await this.resetOwner();
        return;
      case 'owner':
        this.pool.drain();
        await this.resetOwner(true);
        return;
      case 'removed':
        // The token went, and every session of it: none is closed, its number may be reused.
        this.pool.drain(true);
        await this.resetOwner(true);
        return;
      case 'none':
        return;
    }
  }

  /**
   * Logs the normal user in; the login is the application's, so "already logged in" is success.
   * A refused login is not sent again at will: recovery runs whenever a request or a health check
   * finds the login lost, and every refused login counts towards locking the user out (CloudHSM
   * locks a Crypto User after a few). A PIN refused as incorrect is never sent again; after another
   * refusal (a locked user) the same PIN is tried again once per REFUSED_LOGIN_RETRY_MS. A new PIN
   * in the source (a file read again) is tried at once. The errors are of kind `credentials`.
   */
  protected async login(session: Handle): Promise<void> {
    await retryTransient(this.profile, async () => {
      const pin = await this.userPin();
      const digest = createHash('sha256').update(pin).digest();
      const now = Date.now();
      if (this.refusedPin?.equals(digest)) {
        this.refusal ??= { pin: digest, code: 'CKR_PIN_INCORRECT', at: now };
        throw hsmError(
          'CKR_PIN_INCORRECT',
          'C_Login',
          'credentials',
          'The token refused this PIN at an earlier login, so it is not sent again (each refusal counts towards locking the user out); put the right PIN in the PIN source.',
        );
      }
      const last = this.refusal;
      if (last?.pin.equals(digest) && now >= last.at && now - last.at < REFUSED_LOGIN_RETRY_MS)
        throw hsmError(
          last.code,
          'C_Login',
          'credentials',
          `The token refused the login with this PIN (${last.code}) less than ${REFUSED_LOGIN_RETRY_MS / 1000} s ago, so it is not sent again yet; the PIN source holding another PIN is tried at once.`,
        );
      try {
        await this.calls.call('C_Login', session, P.CKU_USER, pin);
      } catch (e) {
        const error = toHsmError(e, 'C_Login');
        if (LOGIN_REFUSED.has(error.code)) {
          const incorrect = error.code === 'CKR_PIN_INCORRECT';
          if (incorrect) this.refusedPin = digest;
          // Another refusal (another PIN, another code): a new state, whose lines are logged at once.
          if (!last || !last.pin.equals(digest) || last.code !== error.code) {
            this.refusedLines.reset();
            this.log.warn(
              { ckr: error.code },
              incorrect
                ? 'PKCS#11 login refused: the token refused the PIN in the PIN source; it is not sent again until the source holds another'
                : 'PKCS#11 login refused: the token refused the login; it is tried again at most once a minute, or at once when the PIN source holds another PIN',
            );
          }
          this.refusal = { pin: digest, code: error.code, at: now };
        }
        if (error.code !== 'CKR_USER_ALREADY_LOGGED_IN') throw error;
      }
      if (this.refusal) {
        this.refusal = undefined;
        this.log.info({ suppressed: this.refusedLines.reset() }, 'PKCS#11 login restored: the token accepted the PIN');
      }
    });
  }

  /** `ownerGone`: the module said the owner session is closed already; it is not closed again. */
  protected async resetOwner(ownerGone = false): Promise<void> {
    await this.onOwner(() => this.replaceOwner(Promise.resolve(), ownerGone));
    this.log.info({}, 'PKCS#11 owner session re-opened; key handle cache cleared');
  }

  /**
   * Opens a new owner session (inside the owner queue); the old one is closed, or left to a hung
   * call — or only forgotten when it is `gone` already (its number may be another session's).
   */
  protected async replaceOwner(closeOld: Promise<unknown> = Promise.resolve(), oldGone = false): Promise<void> {
    const old = this.owner;
    if (!oldGone) void closeOld.then(() => this.closeQuietly(old));
    this.forgetHandles();
    this.owner = await this.calls.call('C_OpenSession', this.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    await this.login(this.owner);
    await this.reloadKeys(this.owner);
  }

  /** Serialises work on the owner session: one PKCS#11 call at a time per session. */
  protected onOwner<T>(fn: (owner: Handle) => T | Promise<T>): Promise<T> {
    const next = this.ownerQueue.then(() => fn(this.owner));
    this.ownerQueue = next.catch(() => undefined);
    return next;
  }

  /**
   * Destroys a cached object on the owner session, later (behind the owner's queue). A handle
   * stamped with an epoch that ends meanwhile is not destroyed (HsmCalls refuses it): its number
   * may name another object by then.
   */
  protected destroyOnOwner(handle: Handle): void {
    void this.onOwner(async (owner) => {
      try {
        await this.calls.call('C_DestroyObject', owner, handle);
      } catch {
        /* the object went with its session, or its epoch ended */
      }
    });
  }

  protected closeQuietly(session: Handle): void {
    void Promise.resolve()
      .then(() => this.calls.call('C_CloseSession', session))
      .catch(() => undefined);
  }

  /** Unwraps a blob into the token as a non-extractable session object owned by the owner session. */
  /** Destroys session objects, ignoring failures (they vanish with the session anyway). */
  async destroyQuietly(session: Handle, ...handles: Array<Handle | undefined>): Promise<void> {
    for (const h of handles) {
      if (!h) continue;
      try {
        await this.calls.call('C_DestroyObject', session, h);
      } catch {
        /* gone already */
      }
    }
  }

  /** Closes the pool and the owner session (which logs out when no other code holds one) and ends the call threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    await this.onOwner((owner) => this.calls.call('C_CloseSession', owner)).catch(() => undefined);
    this.forgetHandles();
    await this.calls.close();
    // No C_Finalize: the module may be shared with other users in this process.
  }
}
