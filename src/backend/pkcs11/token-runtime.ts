/**
 * The machinery under the backend: the session pool, the owner session that holds unwrapped key
 * objects, the handle cache, and recovery.
 *
 * How a failure is handled (the order matters):
 * 1. Its return code is classified (errors.ts). Bad input (`data`, and `input` when the caller
 *    chose the input) is final: the session goes back to the pool, nothing is recovered.
 * 2. A code that may mean a broken session (`ambiguous`, `fatal`) is not believed on its own:
 *    the session is tested with a cheap call (C_GetSessionInfo) first. If it answers, logged in,
 *    an ambiguous code is the input's fault when the caller chose the input (no recovery);
 *    otherwise the operation is retried on another session and only this one is closed (after
 *    a lost login, the login is renewed first; after a stale handle, the handles are looked up
 *    again). Only a session that fails the test is recovered from: dropped,
 *    and when the device itself is gone every session with it and the owner session reopened.
 *    So no request, whatever its input, can make the service drain its pool.
 * 3. A call that does not answer in time fails with a timeout; its session is set aside until the
 *    call returns, and nothing else waits for it.
 *
 * Recovery never calls C_Finalize: other code in this process (the TLS engine) may share the
 * module. "Re-initialising" after a device failure therefore means: drop every session, open a
 * new owner session, log in again and look the token keys up again.
 */
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11 } from 'pkcs11js';
import { randomBytes } from 'node:crypto';
import { readPin } from '../../config/hsm.js';
import type { KeySpec } from '../../core/model.js';
import type { GeneratedMaterial, Logger, MaterialRef } from '../../core/ports.js';
import { classOf, hsmError, HsmError, returnValueOf, toHsmError, type Blame, type Recovery } from './errors.js';
import { HandleCache } from './handle-cache.js';
import { HsmTimeoutError, type HsmCalls } from './hsm-calls.js';
import type { Pkcs11BackendConfig } from './index.js';
import { generationRequest, specInfo, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob, writeMaterialBlob } from './material-blob.js';
import type { HsmProfile } from './profiles.js';
import { ecSpki, rsaSpki } from './public-key.js';
import type { SessionPool } from './session-pool.js';
import { reloadTokenKeys, type TokenKeySet } from './token-keys.js';

const P = pkcs11js;
const KWP: Mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const MAX_RETRIES = 3;
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
const HANDLE_GONE: ReadonlySet<string> = new Set(['CKR_KEY_HANDLE_INVALID', 'CKR_OBJECT_HANDLE_INVALID']);

/** Sessions, owner session, handle cache and recovery; {@link Pkcs11Backend} adds the operations. */
export class TokenRuntime {
  protected domain!: TokenKeySet;
  protected seal!: TokenKeySet;
  protected readonly cache: HandleCache;
  protected recovering: Promise<void> | undefined;
  protected ownerQueue: Promise<unknown> = Promise.resolve();
  protected closed = false;

  protected constructor(
    /** The loaded module; exposed to sibling modules (key import), not part of KeyBackend. */
    readonly module: PKCS11,
    /** Every request-path Cryptoki call goes through here. */
    readonly calls: HsmCalls,
    protected readonly slot: Handle,
    readonly profile: HsmProfile,
    protected readonly config: Pkcs11BackendConfig,
    protected readonly pool: SessionPool,
    protected readonly log: Logger,
    protected owner: Handle,
  ) {
    this.cache = new HandleCache(config.cacheSize ?? 1024, (h) => this.destroyOnOwner(h));
  }

  /**
   * Runs one PKCS#11 operation on a pooled session. Failures are judged as described above; what
   * can be recovered from is, and the operation retried a few times at most (a failover can hit
   * one operation twice).
   */
  protected async run<T>(name: string, fn: (session: Handle) => Promise<T> | T, blame: Blame = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let failure: HsmError;
      try {
        return await this.pool.use(async (s) => {
          try {
            return await fn(s);
          } catch (e) {
            throw await this.judge(e, name, blame, s);
          }
        });
      } catch (e) {
        failure = toHsmError(e, name, blame);
      }
      if (this.closed || attempt >= MAX_RETRIES || failure.recovery === 'none') throw failure;
      this.log.warn({ ...failure.logFields(), op: name, attempt }, 'PKCS#11 call failed; recovering and retrying');
      try {
        await this.recover(failure.recovery);
      } catch (e) {
        // The device may still be away; the next attempt fails again or finds it back.
        this.log.warn({ ...toHsmError(e, 'recover').logFields(), op: name, attempt }, 'PKCS#11 recovery failed');
      }
    }
  }

  /** Decides what a failure on `session` means, testing the session when the code is not conclusive. */
  protected async judge(error: unknown, name: string, blame: Blame, session: Handle): Promise<unknown> {
    if (error instanceof HsmError || !returnValueOf(error)) return error;
    const hsm = toHsmError(error, name, blame);
    const cls = classOf(hsm.code);
    if (hsm.kind === 'data' || (cls !== 'ambiguous' && cls !== 'fatal')) return hsm.judged(hsm.kind, 'none');
    const probe = await this.probe(session);
    if (probe === 'ok') {
      // The session answers: an inconclusive failure is the input's when the caller chose the
      // input. Otherwise it was a passing failure of the device, which may have left this session
      // mid-operation (a C_Encrypt that never ran after its C_EncryptInit did): another session
      // takes the retry, and only this one is closed.
      if (cls === 'ambiguous' && blame.callerInput) return hsm.judged('data', 'none');
      return hsm.judged('unavailable', HANDLE_GONE.has(hsm.code) ? 'handles' : 'replace');
    }
    if (probe === 'logged-out') return hsm.judged('unavailable', 'relogin');
    if (probe instanceof HsmTimeoutError) return probe;
    return hsm.judged('unavailable', DEVICE_GONE.has(probe.code) ? 'device' : 'session');
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
        await this.login(this.owner);
        await this.reloadKeys(this.owner);
        return;
      case 'handles':
        // A cached object vanished although its owner session lives: trust no cached handle.
        // They are forgotten, not destroyed (a stale number must never be destroyed).
        this.cache.invalidateAll();
        await this.reloadKeys(this.owner);
        return;
      case 'session': {
        // The failed session is already closed. A session that vanished rarely vanished alone
        // (a failover, a logout): drop the idle ones too, and the owner if it went with them.
        this.pool.drain();
        if ((await this.probe(this.owner)) === 'ok') return;
        await this.resetOwner();
        return;
      }
      case 'device':
        this.pool.drain();
        await this.resetOwner();
        return;
      case 'none':
        return;
    }
  }

  /** Logs the normal user in; the login is the application's, so "already logged in" is success. */
  protected async login(session: Handle): Promise<void> {
    try {
      await this.calls.call('C_Login', session, P.CKU_USER, readPin(this.config.pin));
    } catch (e) {
      const error = toHsmError(e, 'C_Login');
      if (error.code !== 'CKR_USER_ALREADY_LOGGED_IN') throw error;
    }
  }

  protected async reloadKeys(session: Handle): Promise<void> {
    this.domain = await reloadTokenKeys(this.calls, session, 'domain');
    this.seal = await reloadTokenKeys(this.calls, session, 'seal');
  }

  protected async resetOwner(): Promise<void> {
    await this.onOwner(() => this.replaceOwner());
    this.log.info({}, 'PKCS#11 owner session re-opened; key handle cache cleared');
  }

  /** Opens a new owner session (inside the owner queue); the old one is closed, or left to a hung call. */
  private async replaceOwner(closeOld: Promise<unknown> = Promise.resolve()): Promise<void> {
    const old = this.owner;
    void closeOld.then(() => this.closeQuietly(old));
    this.cache.invalidateAll();
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

  protected destroyOnOwner(handle: Handle): void {
    void this.onOwner(async (owner) => {
      try {
        await this.calls.call('C_DestroyObject', owner, handle);
      } catch {
        /* the object went with its session */
      }
    });
  }

  protected closeQuietly(session: Handle): void {
    void Promise.resolve()
      .then(() => this.calls.call('C_CloseSession', session))
      .catch(() => undefined);
  }

  /** Unwraps a blob into the token as a non-extractable session object owned by the owner session. */
  protected async unwrapForUse(ref: MaterialRef): Promise<Handle> {
    const blob = parseMaterialBlob(ref.wrapped);
    if (blob.keySpec !== ref.keySpec)
      throw hsmError('CKR_WRAPPED_KEY_INVALID', 'parseMaterialBlob', 'data', `Key material blob holds ${blob.keySpec}, expected ${ref.keySpec}.`);
    const template = unwrapTemplate(blob.keySpec, blob.purpose, this.profile, true, this.profile.uniqueKeyIds ? randomBytes(16) : undefined);
    return this.onOwner(async (owner) => {
      let domainKey = this.domain.get(blob.domainKeyId);
      if (!domainKey) {
        this.domain = await reloadTokenKeys(this.calls, owner, 'domain');
        domainKey = this.domain.get(blob.domainKeyId);
      }
      if (!domainKey) throw hsmError('ERR_DOMAIN_KEY_MISSING', 'C_UnwrapKey', 'internal', 'The domain key that wrapped this key material is not in the token.');
      try {
        return await this.calls.op('unwrap', 'C_UnwrapKey', owner, KWP, domainKey, blob.wrapped, template);
      } catch (e) {
        if (e instanceof HsmTimeoutError) {
          // The owner session is busy with a call that may never return: continue on a new one.
          await this.replaceOwner(e.settled);
          throw e;
        }
        // A blob that fails its RFC 5649 integrity check is bad input (SoftHSM2 says
        // CKR_GENERAL_ERROR), not a device failure; the judgement tests the session to tell.
        const error = await this.judge(e, 'C_UnwrapKey', { callerInput: true, dataCodes: this.profile.badCiphertextCodes }, owner);
        if (error instanceof HsmError && error.kind === 'data')
          throw hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', 'The key material blob does not unwrap under its domain key.');
        throw error;
      }
    });
  }

  /** Runs `fn` with the unwrapped handle of `ref` on a pooled session. */
  protected withKey<T>(name: string, ref: MaterialRef, fn: (s: Handle, key: Handle) => Promise<T> | T, blame?: Blame): Promise<T> {
    return this.run(
      name,
      async (s) => {
        const lease = this.cache.tryLease(ref.id) ?? (await this.cache.lease(ref.id, () => this.unwrapForUse(ref)));
        try {
          return await fn(s, lease.handle);
        } finally {
          lease.release();
        }
      },
      blame,
    );
  }

  /** Wraps a session object under the current domain key and returns the blob. */
  async wrapUnderDomainKey(session: Handle, key: Handle, spec: KeySpec, purpose: 'cmk' | 'import-wrapping'): Promise<Buffer> {
    const dk = this.domain.current();
    const wrapped = await this.calls.op('wrap', 'C_WrapKey', session, KWP, dk.handle, key, Buffer.alloc(8192));
    return writeMaterialBlob({ keySpec: spec, purpose, domainKeyId: dk.id, wrapped: Buffer.from(wrapped) });
  }

  /** SPKI of a generated public key object. */
  async publicKeyOf(session: Handle, publicKey: Handle, spec: KeySpec): Promise<Buffer> {
    const info = specInfo(spec);
    if (info.family === 'rsa') {
      const [n, e] = await this.calls.call('C_GetAttributeValue', session, publicKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
      return rsaSpki(n!.value as Buffer, e!.value as Buffer);
    }
    const [point] = await this.calls.call('C_GetAttributeValue', session, publicKey, [{ type: P.CKA_EC_POINT }]);
    return ecSpki(point!.value as Buffer, info.jwkCurve!, info.ecFieldBytes!);
  }

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

  protected async generate(session: Handle, spec: KeySpec, purpose: 'cmk' | 'import-wrapping'): Promise<GeneratedMaterial> {
    const id = this.profile.uniqueKeyIds ? randomBytes(16) : undefined;
    const req = generationRequest(spec, purpose, this.profile, id);
    if (req.secret) {
      const key = await this.calls.op('generate', 'C_GenerateKey', session, req.mechanism, req.secret);
      try {
        return { wrapped: await this.wrapUnderDomainKey(session, key, spec, purpose) };
      } finally {
        await this.destroyQuietly(session, key);
      }
    }
    const pair = await this.calls.op('generate', 'C_GenerateKeyPair', session, req.mechanism, req.publicKey!, req.privateKey!);
    try {
      const publicKey = await this.publicKeyOf(session, pair.publicKey, spec);
      return { wrapped: await this.wrapUnderDomainKey(session, pair.privateKey, spec, purpose), publicKey };
    } finally {
      await this.destroyQuietly(session, pair.privateKey, pair.publicKey);
    }
  }

  /**
   * Whether the token answers. When it does but the owner session was lost (the token was
   * removed and is back), the sessions are re-established here, so the service recovers without
   * waiting for a request to fail first.
   */
  async health(): Promise<{ ok: boolean; detail?: string }> {
    if (this.closed) return { ok: false, detail: 'closed' };
    let label: string;
    try {
      label = (await this.calls.call('C_GetTokenInfo', this.slot)).label.trim();
    } catch (e) {
      return { ok: false, detail: toHsmError(e, 'C_GetTokenInfo').code };
    }
    const owner = await this.probe(this.owner);
    if (owner === 'ok') return { ok: true, detail: label };
    try {
      await this.recover(owner === 'logged-out' ? 'relogin' : 'device');
    } catch (e) {
      return { ok: false, detail: toHsmError(e, 'health').code };
    }
    return (await this.probe(this.owner)) === 'ok' ? { ok: true, detail: label } : { ok: false, detail: 'owner session lost' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    await this.onOwner((owner) => this.calls.call('C_CloseSession', owner)).catch(() => undefined);
    this.cache.invalidateAll();
    await this.calls.close();
    // No C_Finalize: the module may be shared with other users in this process.
  }

  /** Sessions, cached key handles, recoveries and worker threads, for metrics and tests. */
  stats(): {
    sessionsInUse: number;
    sessionsIdle: number;
    sessionsAbandoned: number;
    poolDrains: number;
    cachedKeys: number;
    callThreads: number;
    callThreadsStuck: number;
  } {
    const threads = this.calls.stats();
    return { ...this.pool.stats(), cachedKeys: this.cache.size, callThreads: threads.threads, callThreadsStuck: threads.stuck };
  }
}
