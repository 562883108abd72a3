/**
 * KeyBackend on a PKCS#11 token.
 *
 * Key-material invariant: plaintext key material exists only inside the token, plus the data
 * keys and data key pairs this service hands to callers by design. CMK material is generated in
 * the token as a session object, wrapped (CKM_AES_KEY_WRAP_PAD) under the domain key — a token
 * object that is sensitive and never extractable — and destroyed; only the wrapped blob leaves.
 * On use the blob is unwrapped into the token as a sensitive, non-extractable session object
 * owned by one long-lived session, so the token never accumulates per-CMK objects.
 */
import { constants as C, createHash, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, PKCS11, Template } from 'pkcs11js';
import { readPin } from '../../config/hsm.js';
import { HsmError } from '../../core/errors.js';
import type {
  DataKeyPairSpec,
  EncryptionAlgorithm,
  KeySpec,
  MacAlgorithm,
  MessageType,
  SigningAlgorithm,
  WrappingAlgorithm,
  WrappingKeySpec,
} from '../../core/model.js';
import type { DataKeyPair, GeneratedMaterial, KeyBackend, Logger, MaterialRef, SymmetricCiphertext } from '../../core/ports.js';
import { hsmError, toHsmError } from './errors.js';
import { HandleCache } from './handle-cache.js';
import type { Pkcs11BackendConfig } from './index.js';
import { generationRequest, HMAC_MECH, OAEP_HASH, oaepMechanism, SIGNING, signingRequest, specInfo, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob, writeMaterialBlob } from './material-blob.js';
import { oaepDecode } from './oaep.js';
import { closeQuietly, findTokenSlot, loadModule, login, openSession } from './module.js';
import { profileFor, type CallKind, type HsmProfile } from './profiles.js';
import { ecdsaDerToRaw, ecdsaRawToDer, ecPointAttribute, ecSpki, rsaSpki } from './public-key.js';
import { parseSealedSecret, sealedHeader, writeSealedSecret } from './sealed-secret.js';
import { SessionPool } from './session-pool.js';
import { loadTokenKeys, reloadTokenKeys, type TokenKeySet } from './token-keys.js';
import { importMaterial } from './key-import.js';

const P = pkcs11js;
const KWP: Mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const MAX_RETRIES = 3;
const SESSION_GONE: ReadonlySet<string> = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_USER_NOT_LOGGED_IN']);
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/** The PKCS#11 implementation of {@link KeyBackend}. Create with `openPkcs11Backend`. */
export class Pkcs11Backend implements KeyBackend {
  private owner: Handle;
  private domain!: TokenKeySet;
  private seal!: TokenKeySet;
  private readonly cache: HandleCache;
  private recovering: Promise<void> | undefined;
  private ownerQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly ivs = new IvSource();

  private constructor(
    /** The loaded module; exposed to sibling modules (key import), not part of KeyBackend. */
    readonly module: PKCS11,
    private readonly slot: Handle,
    readonly profile: HsmProfile,
    private readonly config: Pkcs11BackendConfig,
    private readonly pool: SessionPool,
    private readonly log: Logger,
  ) {
    this.owner = openSession(module, slot);
    this.cache = new HandleCache(config.cacheSize ?? 1024, (h) => this.destroyOnOwner(h));
  }

  /** See `openPkcs11Backend`. */
  static async open(config: Pkcs11BackendConfig, logger: Logger = SILENT): Promise<Pkcs11Backend> {
    const profile = profileFor(config.profile);
    const pin = readPin(config.pin);
    const module = loadModule(config.modulePath);
    const slot = findTokenSlot(module, config.token);
    const pool = new SessionPool(module, slot, config.poolSize ?? 8);
    const log = logger.child({ component: 'pkcs11' });
    const backend = new Pkcs11Backend(module, slot, profile, config, pool, log);
    login(module, backend.owner, pin, profile.pinHint);
    backend.domain = await loadTokenKeys(module, backend.owner, 'domain');
    backend.seal = await loadTokenKeys(module, backend.owner, 'seal');
    log.info({ profile: profile.name, poolSize: config.poolSize ?? 8, cacheSize: config.cacheSize ?? 1024 }, 'PKCS#11 backend ready');
    return backend;
  }

  // ───────────────────────── plumbing ─────────────────────────

  private isSync(kind: CallKind): boolean {
    return this.profile.syncCalls.has(kind);
  }

  /**
   * Runs one PKCS#11 operation on a pooled session. Session-fatal and device errors are
   * recovered from (new session, re-login, new owner session) and the operation retried, a few
   * times at most (a failover can hit one operation twice); data errors go straight back.
   */
  private async run<T>(name: string, fn: (session: Handle) => Promise<T> | T, overrides?: Readonly<Record<string, HsmError['kind']>>): Promise<T> {
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

  private recover(error: HsmError): Promise<void> {
    this.recovering ??= this.doRecover(error).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async doRecover(error: HsmError): Promise<void> {
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
  }

  private ownerAlive(): boolean {
    try {
      this.module.C_GetSessionInfo(this.owner);
      return true;
    } catch {
      return false;
    }
  }

  private async resetOwner(): Promise<void> {
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
  private onOwner<T>(fn: (owner: Handle) => T | Promise<T>): Promise<T> {
    const next = this.ownerQueue.then(() => fn(this.owner));
    this.ownerQueue = next.catch(() => undefined);
    return next;
  }

  private destroyOnOwner(handle: Handle): void {
    void this.onOwner((owner) => {
      try {
        this.module.C_DestroyObject(owner, handle);
      } catch {
        /* the object went with its session */
      }
    });
  }

  /** Unwraps a blob into the token as a non-extractable session object owned by the owner session. */
  private async unwrapForUse(ref: MaterialRef): Promise<Handle> {
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
  private withKey<T>(name: string, ref: MaterialRef, fn: (s: Handle, key: Handle) => Promise<T> | T, overrides?: Readonly<Record<string, HsmError['kind']>>): Promise<T> {
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

  private async generate(session: Handle, spec: KeySpec, purpose: 'cmk' | 'import-wrapping'): Promise<GeneratedMaterial> {
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

  // ───────────────────────── KeyBackend ─────────────────────────

  generateKeyMaterial(spec: KeySpec): Promise<GeneratedMaterial> {
    return this.run('generateKeyMaterial', (s) => this.generate(s, spec, 'cmk'));
  }

  async encryptSymmetric(key: MaterialRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext> {
    return this.withKey('encryptSymmetric', key, async (s, h) => this.gcmEncrypt(s, h, view(plaintext), view(aad)));
  }

  async decryptSymmetric(key: MaterialRef, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return this.withKey('decryptSymmetric', key, async (s, h) => this.gcmDecrypt(s, h, view(iv), view(ciphertext), view(aad)), this.badCiphertext());
  }

  private badCiphertext(): Record<string, 'data'> {
    return Object.fromEntries(this.profile.badCiphertextCodes.map((c) => [c, 'data' as const]));
  }

  private async gcmEncrypt(s: Handle, key: Handle, plaintext: Buffer, aad: Buffer): Promise<SymmetricCiphertext> {
    // Tokens that generate the IV write it into this buffer (pkcs11js passes its memory as pIv).
    const iv = this.profile.hsmGeneratedGcmIv ? Buffer.alloc(12) : this.ivs.next();
    this.module.C_EncryptInit(s, gcm(iv, aad), key);
    const out = Buffer.alloc(plaintext.length + 16);
    const ct = this.isSync('aes') ? this.module.C_Encrypt(s, plaintext, out) : await this.module.C_EncryptAsync(s, plaintext, out);
    return { iv, ciphertext: ct };
  }

  private async gcmDecrypt(s: Handle, key: Handle, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    if (iv.length !== 12 || ciphertext.length < 16)
      throw hsmError('CKR_ENCRYPTED_DATA_INVALID', 'C_Decrypt', 'data', 'AES-GCM input needs a 12-byte IV and a 16-byte tag.');
    this.module.C_DecryptInit(s, gcm(iv, aad), key);
    const out = Buffer.alloc(ciphertext.length);
    return this.isSync('aes') ? this.module.C_Decrypt(s, ciphertext, out) : await this.module.C_DecryptAsync(s, ciphertext, out);
  }

  async encryptAsymmetric(key: MaterialRef & { publicKey: Uint8Array }, algorithm: EncryptionAlgorithm, plaintext: Uint8Array): Promise<Buffer> {
    if (algorithm === 'SYMMETRIC_DEFAULT') throw hsmError('CKR_MECHANISM_INVALID', 'encryptAsymmetric', 'data', 'RSA keys encrypt with RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.');
    const publicKey = createPublicKey({ key: Buffer.from(key.publicKey), format: 'der', type: 'spki' });
    try {
      return publicEncrypt({ key: publicKey, padding: C.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[algorithm] }, plaintext);
    } catch {
      throw hsmError('CKR_DATA_LEN_RANGE', 'encryptAsymmetric', 'data', 'The plaintext is too long for this RSA key and algorithm.');
    }
  }

  async decryptAsymmetric(key: MaterialRef, algorithm: EncryptionAlgorithm, ciphertext: Uint8Array): Promise<Buffer> {
    if (algorithm === 'SYMMETRIC_DEFAULT') throw hsmError('CKR_MECHANISM_INVALID', 'decryptAsymmetric', 'data', 'RSA keys decrypt with RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.');
    return this.withKey('decryptAsymmetric', key, (s, h) => this.rsaOaepDecrypt(s, h, OAEP_HASH[algorithm], view(ciphertext)), this.badCiphertext());
  }

  /**
   * RSAES-OAEP decryption with a private key in the token: in the token when it supports the
   * hash, otherwise raw RSA in the token and the padding removed here (see profiles.ts).
   */
  async rsaOaepDecrypt(s: Handle, key: Handle, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
    const native = this.profile.oaepHashes.has(hash);
    this.module.C_DecryptInit(s, native ? oaepMechanism(hash) : { mechanism: P.CKM_RSA_X_509 }, key);
    const out = Buffer.alloc(1024);
    const result = Buffer.from(this.isSync('rsa') ? this.module.C_Decrypt(s, ciphertext, out) : await this.module.C_DecryptAsync(s, ciphertext, out));
    out.fill(0);
    if (native) return result;
    const [modulus] = this.module.C_GetAttributeValue(s, key, [{ type: P.CKA_MODULUS }]);
    try {
      return oaepDecode(hash, result, modulus!.value.length);
    } finally {
      result.fill(0);
    }
  }

  async sign(key: MaterialRef, algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): Promise<Buffer> {
    const digest = toDigest(algorithm, message, messageType);
    const { mechanism, input } = signingRequest(algorithm, digest);
    const kind = specInfo(key.keySpec).callKind;
    return this.withKey('sign', key, async (s, h) => {
      this.module.C_SignInit(s, mechanism, h);
      const out = Buffer.alloc(1024);
      const raw = Buffer.from(this.isSync(kind) ? this.module.C_Sign(s, input, out) : await this.module.C_SignAsync(s, input, out));
      return SIGNING[algorithm].scheme === 'ecdsa' ? ecdsaRawToDer(raw) : raw;
    });
  }

  async verify(
    key: MaterialRef & { publicKey: Uint8Array },
    algorithm: SigningAlgorithm,
    message: Uint8Array,
    messageType: MessageType,
    signature: Uint8Array,
  ): Promise<boolean> {
    // Verified in the token with a session copy of the public key: node:crypto cannot verify
    // a precomputed digest (DIGEST message type), and one path for both types is simpler.
    const digest = toDigest(algorithm, message, messageType);
    const { mechanism, input } = signingRequest(algorithm, digest);
    const info = specInfo(key.keySpec);
    let sig: Buffer | undefined = Buffer.from(signature);
    if (SIGNING[algorithm].scheme === 'ecdsa') sig = ecdsaDerToRaw(sig, info.ecFieldBytes!);
    if (!sig) return false;
    const template = publicKeyTemplate(key.keySpec, Buffer.from(key.publicKey));
    const signatureBytes = sig;
    return this.run('verify', async (s) => {
      const handle = this.module.C_CreateObject(s, template);
      try {
        this.module.C_VerifyInit(s, mechanism, handle);
        return this.isSync(info.callKind)
          ? this.module.C_Verify(s, input, signatureBytes)
          : await this.module.C_VerifyAsync(s, input, signatureBytes);
      } catch (e) {
        const code = toHsmError(e, 'C_Verify').code;
        if (code === 'CKR_SIGNATURE_INVALID' || code === 'CKR_SIGNATURE_LEN_RANGE') return false;
        throw e;
      } finally {
        this.destroyQuietly(s, handle);
      }
    });
  }

  async generateMac(key: MaterialRef, algorithm: MacAlgorithm, message: Uint8Array): Promise<Buffer> {
    const mech = HMAC_MECH[algorithm];
    return this.withKey('generateMac', key, async (s, h) => {
      this.module.C_SignInit(s, { mechanism: mech.mechanism }, h);
      const out = Buffer.alloc(mech.bytes);
      const input = view(message);
      return Buffer.from(this.isSync('hmac') ? this.module.C_Sign(s, input, out) : await this.module.C_SignAsync(s, input, out));
    });
  }

  async generateRandom(length: number): Promise<Buffer> {
    if (!Number.isInteger(length) || length < 1 || length > 1024) throw new RangeError('length must be 1..1024');
    // The random call has no async variant in pkcs11js; it is cheap on every token we know.
    return this.run('generateRandom', (s) => Buffer.from(this.module.C_GenerateRandom(s, Buffer.alloc(length))));
  }

  async generateDataKeyPair(spec: DataKeyPairSpec): Promise<DataKeyPair> {
    // The private key goes to the caller in plaintext by KMS design, so it is made in software.
    const pair =
      spec.startsWith('RSA_')
        ? generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)), publicExponent: 65537 })
        : generateKeyPairSync('ec', { namedCurve: specInfo(spec as KeySpec).jwkCurve === 'secp256k1' ? 'secp256k1' : specInfo(spec as KeySpec).jwkCurve! });
    return {
      privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'der' }),
      publicKey: pair.publicKey.export({ type: 'spki', format: 'der' }),
    };
  }

  async createWrappingKeyPair(spec: WrappingKeySpec): Promise<GeneratedMaterial & { publicKey: Buffer }> {
    const m = await this.run('createWrappingKeyPair', (s) => this.generate(s, spec, 'import-wrapping'));
    return { wrapped: m.wrapped, publicKey: m.publicKey! };
  }

  async importKeyMaterial(wrappingKey: MaterialRef, algorithm: WrappingAlgorithm, encryptedMaterial: Uint8Array, target: KeySpec): Promise<GeneratedMaterial> {
    return this.withKey('importKeyMaterial', wrappingKey, (s, h) => importMaterial(this, s, h, algorithm, view(encryptedMaterial), target));
  }

  forget(id: string): void {
    this.cache.forget(id);
  }

  async sealSecret(plaintext: Uint8Array): Promise<Buffer> {
    return this.run('sealSecret', async (s) => {
      const key = this.seal.current();
      const header = sealedHeader(key.id);
      const { iv, ciphertext } = await this.gcmEncrypt(s, key.handle, view(plaintext), header);
      return writeSealedSecret({ sealKeyId: key.id, iv, ciphertext });
    });
  }

  async unsealSecret(sealed: Uint8Array): Promise<Buffer> {
    const parsed = parseSealedSecret(sealed);
    return this.run(
      'unsealSecret',
      async (s) => {
        const key = this.seal.get(parsed.sealKeyId);
        if (!key) throw hsmError('CKR_KEY_HANDLE_INVALID', 'unsealSecret', 'config', 'The seal key for this secret is not in the token.');
        return this.gcmDecrypt(s, key, parsed.iv, parsed.ciphertext, parsed.header);
      },
      this.badCiphertext(),
    );
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
}

/** A Buffer over the same memory (no copy: plaintext should not be duplicated needlessly). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * GCM IVs from node's CSPRNG, drawn 4 KiB at a time: one randomBytes call per 341 encryptions
 * instead of one each. Random 96-bit IVs, as NIST SP 800-38D §8.2.2 allows.
 */
class IvSource {
  private buffer = Buffer.alloc(0);
  private offset = 0;
  next(): Buffer {
    if (this.offset + 12 > this.buffer.length) {
      this.buffer = randomBytes(4092);
      this.offset = 0;
    }
    const iv = this.buffer.subarray(this.offset, this.offset + 12);
    this.offset += 12;
    return iv;
  }
}

function gcm(iv: Buffer, aad: Buffer): Mechanism {
  return {
    mechanism: P.CKM_AES_GCM,
    parameter: { type: P.CK_PARAMS_AES_GCM_v240, iv, ivBits: 96, aad, tagBits: 128 } as Mechanism['parameter'],
  };
}

function toDigest(algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): Buffer {
  const info = SIGNING[algorithm];
  if (messageType === 'RAW') return createHash(info.hash).update(message).digest();
  if (message.length !== info.digestBytes)
    throw hsmError('CKR_DATA_LEN_RANGE', 'sign', 'data', `A ${algorithm} digest must be ${info.digestBytes} bytes.`);
  return Buffer.from(message);
}

/** A session public-key object for verification, from SPKI DER (via node:crypto's JWK export). */
function publicKeyTemplate(spec: KeySpec, spki: Buffer): Template {
  const info = specInfo(spec);
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const common: Template = [
    { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_VERIFY, value: true },
  ];
  if (info.family === 'rsa')
    return [
      ...common,
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      { type: P.CKA_MODULUS, value: Buffer.from(jwk.n!, 'base64url') },
      { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e!, 'base64url') },
    ];
  return [
    ...common,
    { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
    { type: P.CKA_EC_PARAMS, value: info.ecParams! },
    { type: P.CKA_EC_POINT, value: ecPointAttribute(Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')) },
  ];
}
