/**
 * The default store's token: the domain and seal keys, and the handle cache of unwrapped key
 * material, over the session machinery of session-runtime.ts (where failure handling is described).
 */
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11, Template } from 'pkcs11js';
import { createHash, randomBytes } from 'node:crypto';
import { readPinForLogin } from '../../config/hsm.js';
import type { KeySpec } from '../../core/model.js';
import type { GeneratedMaterial, Logger, MaterialRef } from '../../core/ports.js';
import { hsmError, HsmError, toHsmError, type Blame } from './errors.js';
import { HandleCache, type Made } from './handle-cache.js';
import { HsmTimeoutError, type HsmCalls } from './hsm-calls.js';
import type { Pkcs11BackendConfig } from './index.js';
import { generationRequest, specInfo, tokenMaterialTemplate, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob, writeMaterialBlob, type MaterialPurpose } from './material-blob.js';
import type { HsmProfile } from './profiles.js';
import { ecSpki, edSpki, rsaSpki } from './public-key.js';
import type { SessionPool } from './session-pool.js';
import { SessionRuntime } from './session-runtime.js';
import { parseTokenKeyReference, writeTokenKeyReference } from './token-key-reference.js';
import { reloadTokenKeys, type TokenKeySet } from './token-keys.js';

const P = pkcs11js;
const KWP: Mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };

/** Domain and seal keys and the handle cache over {@link SessionRuntime}; {@link Pkcs11Backend} adds the operations. */
export class TokenRuntime extends SessionRuntime {
  protected domain!: TokenKeySet;
  protected seal!: TokenKeySet;
  protected readonly cache: HandleCache;

  protected constructor(
    module: PKCS11,
    calls: HsmCalls,
    slot: Handle,
    profile: HsmProfile,
    protected readonly config: Pkcs11BackendConfig,
    pool: SessionPool,
    log: Logger,
    owner: Handle,
  ) {
    super(module, calls, slot, profile, pool, log, owner);
    this.cache = new HandleCache(config.cacheSize ?? 1024, calls, (h) => this.destroyOnOwner(h));
  }

  protected override async reloadKeys(session: Handle): Promise<void> {
    this.domain = await reloadTokenKeys(this.calls, session, 'domain');
    this.seal = await reloadTokenKeys(this.calls, session, 'seal');
  }

  protected override forgetHandles(): void {
    this.cache.invalidateAll();
  }

  protected userPin(): Promise<string> {
    return readPinForLogin(this.config.pin);
  }

  /**
   * Unwraps `ref` on the owner session; the handle comes with the epoch it was made in (handle-cache.ts).
   * Material that is a token object of its own (key-specs.ts, `tokenObject`) is found instead.
   */
  protected async unwrapForUse(ref: MaterialRef): Promise<Made> {
    if (specInfo(ref.keySpec).tokenObject) return this.findForUse(ref);
    const blob = parseMaterialBlob(ref.wrapped);
    if (blob.keySpec !== ref.keySpec)
      throw hsmError('CKR_WRAPPED_KEY_INVALID', 'parseMaterialBlob', 'data', `Key material blob holds ${blob.keySpec}, expected ${ref.keySpec}.`);
    const template = unwrapTemplate(blob.keySpec, blob.purpose, this.profile, true, this.profile.uniqueKeyIds ? randomBytes(16) : undefined);
    return this.onOwner(async (owner) => {
      let domainKey = this.domain.stale ? undefined : this.domain.get(blob.domainKeyId);
      if (!domainKey) {
        this.domain = await reloadTokenKeys(this.calls, owner, 'domain');
        domainKey = this.domain.get(blob.domainKeyId);
      }
      // A session without the login sees no domain key at all: that is a lost login (renewed, or
      // refused: run() tells the caller which), not a missing key.
      if (!domainKey)
        throw (
          (this.domain.size === 0 ? await this.withoutLogin(owner, 'C_FindObjects') : undefined) ??
          hsmError('ERR_DOMAIN_KEY_MISSING', 'C_UnwrapKey', 'internal', 'The domain key that wrapped this key material is not in the token.')
        );
      await this.calls.drained();
      // Read on the owner queue, where the owner session is replaced: the epoch of `owner`.
      const epoch = this.calls.epoch;
      try {
        return { handle: await this.calls.op('unwrap', 'C_UnwrapKey', owner, KWP, domainKey, blob.wrapped, template), epoch };
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

  /** The token object of `tokenObject` material, by its reference's CKA_ID, on the owner session. */
  private async findForUse(ref: MaterialRef): Promise<Made> {
    const { id } = parseTokenKeyReference(ref.wrapped);
    return this.onOwner(async (owner) => {
      await this.calls.drained();
      const epoch = this.calls.epoch;
      let found: Handle[];
      try {
        found = await this.calls.findObjects(owner, tokenMaterialTemplate(ref.keySpec, id), 2);
      } catch (e) {
        if (e instanceof HsmTimeoutError) {
          await this.replaceOwner(e.settled);
          throw e;
        }
        throw await this.judge(e, 'C_FindObjects', {}, owner);
      }
      if (found.length === 0) {
        const lost = await this.withoutLogin(owner, 'C_FindObjects');
        if (lost) throw lost;
      }
      if (found.length !== 1)
        throw hsmError('ERR_KEY_MATERIAL_MISSING', 'C_FindObjects', 'missing', `${found.length} token objects hold this ${ref.keySpec} key material; expected one.`);
      return { handle: found[0]!, epoch, persistent: true };
    });
  }

  /** Destroys the token object of `tokenObject` material (key deletion); nothing for wrapped material (KeyBackend.destroyMaterial). */
  async destroyMaterial(ref: MaterialRef): Promise<void> {
    this.forgetMaterial(ref.id);
    if (!specInfo(ref.keySpec).tokenObject) return;
    const { id } = parseTokenKeyReference(ref.wrapped);
    await this.run('destroyMaterial', async (s) => {
      for (const handle of await this.calls.findObjects(s, tokenMaterialTemplate(ref.keySpec, id), 16)) await this.calls.call('C_DestroyObject', s, handle);
    });
  }

  /** Runs `fn` with the unwrapped handle of `ref` on a pooled session (`oneJob`: see SessionRuntime.run). */
  protected withKey<T>(name: string, ref: MaterialRef, fn: (s: Handle, key: Handle) => Promise<T> | T, blame?: Blame, oneJob = false): Promise<T> {
    return this.withCached(name, ref.id, () => this.unwrapForUse(ref), fn, blame, oneJob);
  }

  /**
   * Runs `fn` on a pooled session with the cached handle `id`, made with `load` (on the owner
   * session) on a miss. A handle whose epoch ended while `fn` held it (the owner session was
   * replaced) is refused before it reaches the token (StaleHandleError); run() then runs `fn`
   * again, which loads the key again.
   */
  private withCached<T>(name: string, id: string, load: () => Promise<Made>, fn: (s: Handle, key: Handle) => Promise<T> | T, blame?: Blame, oneJob = false): Promise<T> {
    return this.run(
      name,
      async (s) => {
        const lease = this.cache.tryLease(id) ?? (await this.cache.lease(id, load));
        try {
          return await fn(s, lease.handle);
        } finally {
          lease.release();
        }
      },
      blame,
      oneJob,
    );
  }

  /**
   * Runs `fn` with a session object of `ref`'s public key on a pooled session. The object is made
   * on the owner session on the first use and kept in the handle cache like an unwrapped key (same
   * eviction, destruction, and invalidation when the owner session or the key version goes), so a
   * cached Verify makes no object in the token. The cache id includes a digest of the public key
   * bytes: a different public key under the same material id can never reuse the object.
   */
  protected withPublicKey<T>(
    name: string,
    ref: MaterialRef & { publicKey: Uint8Array },
    template: () => Template,
    fn: (s: Handle, key: Handle) => Promise<T> | T,
    blame?: Blame,
  ): Promise<T> {
    return this.withCached(name, publicKeyCacheId(ref), () => this.createOnOwner(template()), fn, blame);
  }

  /** Drops the cached handles of deleted material: its unwrapped key and its public key copies. */
  protected forgetMaterial(id: string): void {
    this.cache.forget(id);
    this.cache.forgetPrefixed(publicKeyCachePrefix(id));
  }

  /** Makes a session object owned by the owner session (a public key for Verify: no secret in it). */
  private createOnOwner(template: Template): Promise<Made> {
    return this.onOwner(async (owner) => {
      await this.calls.drained();
      const epoch = this.calls.epoch;
      try {
        return { handle: await this.calls.call('C_CreateObject', owner, template), epoch };
      } catch (e) {
        if (e instanceof HsmTimeoutError) {
          await this.replaceOwner(e.settled);
          throw e;
        }
        // The public key comes from the store, not the caller: a refusal is judged on the owner session.
        throw await this.judge(e, 'C_CreateObject', {}, owner);
      }
    });
  }

  /** Wraps a session object under the current domain key and returns the blob. */
  async wrapUnderDomainKey(session: Handle, key: Handle, spec: KeySpec, purpose: MaterialPurpose): Promise<Buffer> {
    if (this.domain.stale) this.domain = await reloadTokenKeys(this.calls, session, 'domain');
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
    if (info.family === 'ed') return edSpki(point!.value as Buffer);
    return ecSpki(point!.value as Buffer, info.jwkCurve!, info.ecFieldBytes!);
  }

  protected async generate(session: Handle, spec: KeySpec, purpose: MaterialPurpose): Promise<GeneratedMaterial> {
    const tokenObject = specInfo(spec).tokenObject === true;
    const id = this.profile.uniqueKeyIds || tokenObject ? randomBytes(16) : undefined;
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
    if (tokenObject) {
      // The private key stays: it is the material. Only the session public key object goes.
      try {
        return { wrapped: writeTokenKeyReference(id!), publicKey: await this.publicKeyOf(session, pair.publicKey, spec) };
      } catch (e) {
        await this.destroyQuietly(session, pair.privateKey);
        throw e;
      } finally {
        await this.destroyQuietly(session, pair.publicKey);
      }
    }
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
      await this.recover(this.ownerRecovery(owner));
    } catch (e) {
      return { ok: false, detail: toHsmError(e, 'health').code };
    }
    return (await this.probe(this.owner)) === 'ok' ? { ok: true, detail: label } : { ok: false, detail: 'owner session lost' };
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
    /** Encrypts/Decrypts queued behind another on a busy session, and jobs skipped (never run) because the one before them failed or hung. */
    jobsQueuedOnBusySessions: number;
    jobsSkipped: number;
    /** Objects made in the token through this module by this process (`serve --recycle-worker-after` counts them). */
    tokenObjectsMade: number;
  } {
    const threads = this.calls.stats();
    return {
      ...this.pool.stats(),
      cachedKeys: this.cache.size,
      callThreads: threads.threads,
      callThreadsStuck: threads.stuck,
      jobsSkipped: threads.skipped,
      tokenObjectsMade: this.calls.objectsMade(),
    };
  }
}

/** Where the public key copies of material `id` live in the handle cache (never a MaterialRef.id). */
function publicKeyCachePrefix(id: string): string {
  return `public\0${id}\0`;
}

function publicKeyCacheId(ref: MaterialRef & { publicKey: Uint8Array }): string {
  return publicKeyCachePrefix(ref.id) + createHash('sha256').update(ref.publicKey).digest('base64url');
}
