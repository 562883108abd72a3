/**
 * KeyBackend on a PKCS#11 token.
 *
 * ## Key-material invariant
 * Plaintext key material exists only inside the token, plus what KMS hands to callers by design
 * (data keys, data key pairs, Decrypt results). How:
 * - Two token objects belong to the service: the domain key (AES-256, wrap/unwrap only) and the
 *   seal key (AES-256-GCM, for service secrets). Both are private, sensitive, non-extractable and
 *   non-modifiable: generated in the token, never leaving it.
 * - CMK material is generated in the token as a session object, wrapped under the domain key with
 *   CKM_AES_KEY_WRAP_PAD (RFC 5649), and destroyed in the same call; only the wrapped blob leaves
 *   (material-blob.ts). It is extractable for that moment only, because PKCS#11 can wrap nothing
 *   else.
 * - On use, the blob is unwrapped into the token as a sensitive, non-extractable session object
 *   owned by one long-lived owner session; a bounded LRU (handle-cache.ts) keeps the handles. The
 *   token therefore holds two objects however many CMKs exist, and CloudHSM's or SoftHSM2's
 *   object limits and linear lookups never come into play.
 * - Imports unwrap the customer's material straight into the token (key-import.ts).
 *
 * ## Who can break it, and why CKA_WRAP_WITH_TRUSTED is not the answer here
 * Whoever holds the user PIN can ask the token to unwrap a blob as an *extractable* object and
 * wrap it under a key of their own. PKCS#11's defence is an enforced CKA_UNWRAP_TEMPLATE on the
 * domain key, or CKA_WRAP_WITH_TRUSTED on material plus CKA_TRUSTED on the domain key. SoftHSM2
 * 2.6 lets only the SO set CKA_TRUSTED, the SO cannot see private objects (so the domain key would
 * have to be public — usable without any PIN, which is worse), it does not enforce unwrap
 * templates, and pkcs11js cannot pass template-valued attributes at all. So the PIN is the
 * perimeter, as it is for a CloudHSM Crypto User who owns keys: the metadata store alone (blobs)
 * is useless without the token, the token files alone are encrypted under the PIN, and this
 * process never holds CMK material. The `wrapWithTrusted` profile flag marks transient material
 * CKA_WRAP_WITH_TRUSTED on HSMs where a Crypto Officer has made the domain key trusted.
 *
 * ## Exception
 * On tokens without RSA-OAEP for SHA-256 (SoftHSM2 2.6), OAEP-SHA-256 padding is removed in
 * process memory after a raw RSA operation in the token: for Decrypt that is the plaintext the
 * caller receives anyway; for an import the customer's key (or the ephemeral AES key) is in a
 * buffer for the moment it takes to create it in the token, then zeroed (key-import.ts).
 */
import { constants as C, createHash, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, Template } from 'pkcs11js';
import { readPin } from '../../config/hsm.js';
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
import type { AuditSigner, DataKeyPair, GeneratedMaterial, KeyBackend, Logger, MaterialRef, SymmetricCiphertext } from '../../core/ports.js';
import { AuditSigningKey } from './audit-signing-key.js';
import { hsmError, toHsmError } from './errors.js';
import type { Pkcs11BackendConfig } from './index.js';
import { importMaterial } from './key-import.js';
import { HMAC_MECH, OAEP_HASH, oaepMechanism, SIGNING, signingRequest, specInfo } from './key-specs.js';
import { findTokenSlot, loadModule, login } from './module.js';
import { oaepDecode } from './oaep.js';
import { profileFor } from './profiles.js';
import { ecdsaDerToRaw, ecdsaRawToDer, ecPointAttribute } from './public-key.js';
import { parseSealedSecret, sealedHeader, writeSealedSecret } from './sealed-secret.js';
import { SessionPool } from './session-pool.js';
import { loadTokenKeys } from './token-keys.js';
import { TokenRuntime } from './token-runtime.js';

const P = pkcs11js;
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/** The PKCS#11 implementation of {@link KeyBackend}. Create with `openPkcs11Backend`. */
export class Pkcs11Backend extends TokenRuntime implements KeyBackend, AuditSigner {
  private readonly ivs = new IvSource();
  private readonly auditKey = new AuditSigningKey();

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
    if (!Number.isInteger(length) || length < 1 || length > 65536)
      throw hsmError('CKR_ARGUMENTS_BAD', 'C_GenerateRandom', 'data', 'Random length must be 1 to 65536 bytes.');
    // The random call has no async variant in pkcs11js; it is cheap on every token we know.
    return this.run('generateRandom', (s) => Buffer.from(this.module.C_GenerateRandom(s, Buffer.alloc(length))));
  }

  async generateDataKeyPair(spec: DataKeyPairSpec): Promise<DataKeyPair> {
    // The private key goes to the caller in plaintext by KMS design, so it is made in software.
    const info = specInfo(spec);
    const pair =
      info.family === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: info.modulusBits!, publicExponent: 65537 })
        : generateKeyPairSync('ec', { namedCurve: info.jwkCurve! });
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

  // ───────────────────────── AuditSigner (audit-signing-key.ts) ─────────────────────────

  auditPublicKey(): Promise<Buffer> {
    return this.run('auditPublicKey', (s) => this.auditKey.publicKey(this.module, s));
  }

  signAuditDigest(payload: Uint8Array): Promise<Buffer> {
    return this.run('signAuditDigest', (s) => this.auditKey.sign(this.module, s, payload));
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
