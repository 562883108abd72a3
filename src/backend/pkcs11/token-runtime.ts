/**
 * The machinery under the backend: the session pool, the owner session that holds unwrapped key
 * objects, the handle cache, and recovery. A failed call is classified once (errors.ts); session
 * and device failures are recovered from here and the operation retried, data errors are not.
 *
 * Recovery never calls C_Finalize: other code in this process (the TLS engine) may share the
 * module. "Re-initialising" after CKR_DEVICE_ERROR / CKR_GENERAL_ERROR therefore means: drop every
 * session, open a new owner session, log in again and look the token keys up again.
 */
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11 } from 'pkcs11js';
import { randomBytes } from 'node:crypto';
import { readPin } from '../../config/hsm.js';
import type { HsmError } from '../../core/errors.js';
import type { KeySpec } from '../../core/model.js';
import type { GeneratedMaterial, Logger, MaterialRef } from '../../core/ports.js';
import { hsmError, toHsmError } from './errors.js';
import { HandleCache } from './handle-cache.js';
import type { Pkcs11BackendConfig } from './index.js';
import { generationRequest, specInfo, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob, writeMaterialBlob } from './material-blob.js';
import { closeQuietly, login, openSession } from './module.js';
import type { CallKind, HsmProfile } from './profiles.js';
import { ecSpki, rsaSpki } from './public-key.js';
import type { SessionPool } from './session-pool.js';
import { reloadTokenKeys, type TokenKeySet } from './token-keys.js';

const P = pkcs11js;
const KWP: Mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const MAX_RETRIES = 3;
const SESSION_GONE: ReadonlySet<string> = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_USER_NOT_LOGGED_IN']);

/** Sessions, owner session, handle cache and recovery; {@link Pkcs11Backend} adds the operations. */
export class TokenRuntime {
  protected owner: Handle;
  protected domain!: TokenKeySet;
  protected seal!: TokenKeySet;
  protected readonly cache: HandleCache;
  protected recovering: Promise<void> | undefined;
  protected ownerQueue: Promise<unknown> = Promise.resolve();
  protected closed = false;

  protected constructor(
    /** The loaded module; exposed to sibling modules (key import), not part of KeyBackend. */
    readonly module: PKCS11,
    protected readonly slot: Handle,
    readonly profile: HsmProfile,
    protected readonly config: Pkcs11BackendConfig,
    protected readonly pool: SessionPool,
    protected readonly log: Logger,
  ) {
    this.owner = openSession(module, slot);
    this.cache = new HandleCache(config.cacheSize ?? 1024, (h) => this.destroyOnOwner(h));
  }


  protected isSync(kind: CallKind): boolean {
    return this.profile.syncCalls.has(kind);
  }

  /**
   * Runs one PKCS#11 operation on a pooled session. Session-fatal and device errors are
   * recovered from (new session, re-login, new owner session) and the operation retried, a few
   * times at most (a failover can hit one operation twice); data errors go straight back.
   */
  protected async run<T>(name: string, fn: (session: Handle) => Promise<T> | T, overrides?: Readonly<Record<string, HsmError['kind']>>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.use(async (s) => {
          try {
            return await fn(s);
          } catch (e) {
            throw toHsmError(e, name, overrides);
          }
        });
      } catch (e) {
        const error = toHsmError(e, name);
        if (this.closed || attempt >= MAX_RETRIES || (error.kind !== 'session' && error.kind !== 'device')) throw error;
        this.log.warn({ code: error.code, fn: error.fn, kind: error.kind, op: name }, 'PKCS#11 call failed; recovering and retrying');
        await this.recover(error);
      }
    }
  }

  protected recover(error: HsmError): Promise<void> {
    this.recovering ??= this.doRecover(error).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  protected async doRecover(error: HsmError): Promise<void> {
    // A session that vanished rarely vanished alone (failover, logout): drop the idle ones too
    // rather than let each of them fail one more operation.
    if (SESSION_GONE.has(error.code)) this.pool.drain();
    if (error.kind === 'device' || !this.ownerAlive()) {
      // Start over without C_Finalize: other code in this process (the TLS engine) may share the module.
      this.pool.drain();
      await this.resetOwner();
      return;
    }
    login(this.module, this.owner, readPin(this.config.pin), this.profile.pinHint);
    // Token object handles may change after the last session closed; look them up again.
    this.domain = reloadTokenKeys(this.module, this.owner, 'domain');
    this.seal = reloadTokenKeys(this.module, this.owner, 'seal');
    // A cached object vanished although its owner session lives: trust no cached handle. They are
    // forgotten, not destroyed (a stale number must never be destroyed); the owner keeps them
    // until it closes.
    if (error.code === 'CKR_KEY_HANDLE_INVALID' || error.code === 'CKR_OBJECT_HANDLE_INVALID') this.cache.invalidateAll();
  }

  protected ownerAlive(): boolean {
    try {
      this.module.C_GetSessionInfo(this.owner);
      return true;
    } catch {
      return false;
    }
  }

  protected async resetOwner(): Promise<void> {
    await this.onOwner(() => {
      closeQuietly(this.module, this.owner);
      this.cache.invalidateAll();
      this.owner = openSession(this.module, this.slot);
      login(this.module, this.owner, readPin(this.config.pin), this.profile.pinHint);
      this.domain = reloadTokenKeys(this.module, this.owner, 'domain');
      this.seal = reloadTokenKeys(this.module, this.owner, 'seal');
    });
    this.log.info({}, 'PKCS#11 owner session re-opened; key handle cache cleared');
  }

  /** Serialises work on the owner session: one PKCS#11 call at a time per session. */
  protected onOwner<T>(fn: (owner: Handle) => T | Promise<T>): Promise<T> {
    const next = this.ownerQueue.then(() => fn(this.owner));
    this.ownerQueue = next.catch(() => undefined);
    return next;
  }

  protected destroyOnOwner(handle: Handle): void {
    void this.onOwner((owner) => {
      try {
        this.module.C_DestroyObject(owner, handle);
      } catch {
        /* the object went with its session */
      }
    });
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
        this.domain = reloadTokenKeys(this.module, owner, 'domain');
        domainKey = this.domain.get(blob.domainKeyId);
      }
      if (!domainKey)
        throw hsmError('CKR_KEY_HANDLE_INVALID', 'C_UnwrapKey', 'config', 'The domain key that wrapped this key material is not in the token.');
      try {
        return this.isSync('unwrap')
          ? this.module.C_UnwrapKey(owner, KWP, domainKey, blob.wrapped, template)
          : await this.module.C_UnwrapKeyAsync(owner, KWP, domainKey, blob.wrapped, template);
      } catch (e) {
        // A blob that fails its RFC 5649 integrity check is bad input (SoftHSM2 says
        // CKR_GENERAL_ERROR), not a device failure worth dropping every session for.
        const error = toHsmError(e, 'C_UnwrapKey', this.badCiphertext());
        if (error.kind === 'data')
          throw hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', 'The key material blob does not unwrap under its domain key.');
        throw error;
      }
    });
  }

  /** Runs `fn` with the unwrapped handle of `ref` on a pooled session. */
  protected withKey<T>(name: string, ref: MaterialRef, fn: (s: Handle, key: Handle) => Promise<T> | T, overrides?: Readonly<Record<string, HsmError['kind']>>): Promise<T> {
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
      overrides,
    );
  }

  /** Wraps a session object under the current domain key and returns the blob. */
  async wrapUnderDomainKey(session: Handle, key: Handle, spec: KeySpec, purpose: 'cmk' | 'import-wrapping'): Promise<Buffer> {
    const dk = this.domain.current();
    const out = Buffer.alloc(8192);
    const wrapped = this.isSync('wrap')
      ? this.module.C_WrapKey(session, KWP, dk.handle, key, out)
      : await this.module.C_WrapKeyAsync(session, KWP, dk.handle, key, out);
    return writeMaterialBlob({ keySpec: spec, purpose, domainKeyId: dk.id, wrapped: Buffer.from(wrapped) });
  }

  /** SPKI of a generated public key object. */
  publicKeyOf(session: Handle, publicKey: Handle, spec: KeySpec): Buffer {
    const info = specInfo(spec);
    if (info.family === 'rsa') {
      const [n, e] = this.module.C_GetAttributeValue(session, publicKey, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
      return rsaSpki(n!.value, e!.value);
    }
    const [point] = this.module.C_GetAttributeValue(session, publicKey, [{ type: P.CKA_EC_POINT }]);
    return ecSpki(point!.value, info.jwkCurve!, info.ecFieldBytes!);
  }

  /** Destroys session objects, ignoring failures (they vanish with the session anyway). */
  destroyQuietly(session: Handle, ...handles: Array<Handle | undefined>): void {
    for (const h of handles) {
      if (!h) continue;
      try {
        this.module.C_DestroyObject(session, h);
      } catch {
        /* gone already */
      }
    }
  }

  protected async generate(session: Handle, spec: KeySpec, purpose: 'cmk' | 'import-wrapping'): Promise<GeneratedMaterial> {
    const id = this.profile.uniqueKeyIds ? randomBytes(16) : undefined;
    const req = generationRequest(spec, purpose, this.profile, id);
    const sync = this.isSync('generate');
    if (req.secret) {
      const key = sync ? this.module.C_GenerateKey(session, req.mechanism, req.secret) : await this.module.C_GenerateKeyAsync(session, req.mechanism, req.secret);
      try {
        return { wrapped: await this.wrapUnderDomainKey(session, key, spec, purpose) };
      } finally {
        this.destroyQuietly(session, key);
      }
    }
    const pair = sync
      ? this.module.C_GenerateKeyPair(session, req.mechanism, req.publicKey!, req.privateKey!)
      : await this.module.C_GenerateKeyPairAsync(session, req.mechanism, req.publicKey!, req.privateKey!);
    try {
      const publicKey = this.publicKeyOf(session, pair.publicKey, spec);
      return { wrapped: await this.wrapUnderDomainKey(session, pair.privateKey, spec, purpose), publicKey };
    } finally {
      this.destroyQuietly(session, pair.privateKey, pair.publicKey);
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      const info = this.module.C_GetTokenInfo(this.slot);
      if (!this.ownerAlive()) return { ok: false, detail: 'owner session lost' };
      return { ok: true, detail: info.label.trim() };
    } catch (e) {
      return { ok: false, detail: toHsmError(e, 'C_GetTokenInfo').code };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pool.close();
    await this.onOwner((owner) => closeQuietly(this.module, owner));
    this.cache.invalidateAll();
    // No C_Finalize: the module may be shared with other users in this process.
  }

  /** Sessions in use / idle and cached key handles, for metrics. */
  stats(): { sessionsInUse: number; sessionsIdle: number; cachedKeys: number } {
    return { ...this.pool.stats(), cachedKeys: this.cache.size };
  }

  /**
   * Test hook: closes every session this backend holds (pool and owner) behind its back, as an
   * HSM failover would. Subsequent calls must recover by themselves.
   */
  debugCloseAllSessions(): void {
    for (const s of this.pool.liveSessions()) closeQuietly(this.module, s);
    closeQuietly(this.module, this.owner);
  }

  /** Overrides that make the profile's "bad ciphertext" return codes data errors. */
  protected badCiphertext(): Record<string, 'data'> {
    return Object.fromEntries(this.profile.badCiphertextCodes.map((c) => [c, 'data' as const]));
  }

}
