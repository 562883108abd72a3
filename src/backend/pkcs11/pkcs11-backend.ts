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
 * - Except EdDSA material (ECC_NIST_EDWARDS25519), which SoftHSM2 2.6 cannot wrap: it is generated
 *   as a persistent token object, never extractable, referenced by CKA_ID instead of a blob and
 *   destroyed with its key (key-specs.ts `tokenObject`), one token object per key version.
 *
 * ## Who can break it, and what closes the gap
 * Whoever holds the user PIN could ask the token to unwrap a blob as an *extractable* object and
 * wrap it under a key of their own. PKCS#11's defence is an enforced CKA_UNWRAP_TEMPLATE on the
 * domain key, or CKA_WRAP_WITH_TRUSTED on material plus CKA_TRUSTED on the domain key.
 * - Where the profile says the token enforces it (`unwrapTemplate`: AWS CloudHSM, SoftHSM2 2.6),
 *   the domain key is created with CKA_UNWRAP_TEMPLATE {sensitive, not extractable}, and the token
 *   refuses any other unwrap under it. pkcs11js cannot pass a template-valued attribute, so the
 *   native addon creates that one key (token-keys.ts). Domain keys created before keep working,
 *   without the template: PKCS#11 lets nobody add it later.
 * - CKA_WRAP_WITH_TRUSTED needs the token's security officer to mark the domain key CKA_TRUSTED
 *   (on CloudHSM the Crypto Officer: `key set-attribute --name trusted --value true`); SoftHSM2
 *   lets only its SO set CKA_TRUSTED and the SO cannot see private objects. The `wrapWithTrusted`
 *   profile flag marks transient material with it where that has been done.
 * Otherwise (the generic profile) the PIN is the perimeter, as it is for a CloudHSM Crypto User who
 * owns keys: the metadata store alone (blobs) is useless without the token, the token files alone
 * are encrypted under the PIN, and this process never holds CMK material.
 *
 * ## Exception
 * On tokens without RSA-OAEP for SHA-256 (SoftHSM2 2.6), OAEP-SHA-256 padding is removed in
 * process memory after a raw RSA operation in the token: for Decrypt that is the plaintext the
 * caller receives anyway; for an import the customer's key (or the ephemeral AES key) is in a
 * buffer for the moment it takes to create it in the token, then zeroed (key-import.ts).
 */
import { constants as C, createHash, createPublicKey, generateKeyPair as generateKeyPairCallback, publicEncrypt, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { promisify } from 'node:util';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, Template } from 'pkcs11js';
import { readPin } from '../../config/hsm.js';
import type {
  DataKeyPairSpec,
  EncryptionAlgorithm,
  KeySpec,
  KeyUsage,
  MacAlgorithm,
  MessageType,
  SigningAlgorithm,
  WrappingAlgorithm,
  WrappingKeySpec,
} from '../../core/model.js';
import type { AuditSigner, DataKeyPair, GeneratedMaterial, KeyBackend, Logger, MaterialRef, SymmetricCiphertext } from '../../core/ports.js';
import type { ReplicableMaterial, ReplicaTransport, TransferRef, TransportHash } from '../../core/multi-region/transport.js';
import { EC_SPEC_CURVES, ecSpkiPoint } from '../../core/ec-spki.js';
import { gcmDecrypt, gcmEncrypt, IvSource } from './aes-gcm.js';
import { AuditSigningKey } from './audit-signing-key.js';
import { hsmError, toHsmError, type Blame } from './errors.js';
import { HsmCalls, HsmTimeoutError } from './hsm-calls.js';
import type { Pkcs11BackendConfig } from './index.js';
import { importMaterial } from './key-import.js';
import {
  CKK_EC_EDWARDS,
  eddsaKeyPairRequest,
  requiredMechanisms,
  HMAC_MECH,
  OAEP_HASH,
  oaepMechanism,
  sharedSecretTemplate,
  SIGNING,
  signingRequest,
  signsMessage,
  specInfo,
} from './key-specs.js';
import { loadModule, openOwnerSession, retryTransient } from './module.js';
import { oaepDecode } from './oaep.js';
import { profileFor, type CallKind } from './profiles.js';
import { ecdsaDerToRaw, ecdsaRawToDer, ecPointAttribute } from './public-key.js';
import { parseSealedSecret, sealedHeader, writeSealedSecret } from './sealed-secret.js';
import { SessionPool } from './session-pool.js';
import { generateReplicable, transportHashes, unwrapFromReplica, wrapForReplica } from './replica-transport.js';
import { loadTokenKeys, reloadTokenKeys, type TokenKeySet } from './token-keys.js';
import { TokenRuntime } from './token-runtime.js';

const P = pkcs11js;
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };
const generateKeyPairAsync = promisify(generateKeyPairCallback);

/** What a token answers a mechanism, or mechanism parameters, it does not do with (before it looks at any data). */
const MECHANISM_REFUSALS: readonly string[] = ['CKR_MECHANISM_PARAM_INVALID', 'CKR_ARGUMENTS_BAD', 'CKR_MECHANISM_INVALID'];

/** The blob purpose of a key's material: KEY_AGREEMENT (EC only) derives and never signs. */
function materialPurposeOf(spec: KeySpec, usage: KeyUsage | undefined): 'cmk' | 'key-agreement' {
  if (usage !== 'KEY_AGREEMENT') return 'cmk';
  if (specInfo(spec).family !== 'ec') throw hsmError('CKR_KEY_TYPE_INCONSISTENT', 'C_GenerateKeyPair', 'data', `A ${spec} key cannot be a key agreement key.`);
  return 'key-agreement';
}

/** The PKCS#11 implementation of {@link KeyBackend}. Create with `openPkcs11Backend`. */
export class Pkcs11Backend extends TokenRuntime implements KeyBackend, AuditSigner, ReplicaTransport {
  private readonly ivs = new IvSource();
  private readonly auditKey = new AuditSigningKey();
  /** The replication key(s), found or created on first use (replica-transport.ts). */
  private replication: Promise<TokenKeySet> | undefined;
  /** Whether the token signs Ed25519ph, probed on first need ({@link probeEd25519ph}). */
  private ed25519ph: Promise<boolean> | undefined;
  /** The mechanisms the token lists (C_GetMechanismList at start-up), for what it lacks ({@link keySpecUnavailable}). */
  private mechanisms: ReadonlySet<number> = new Set();

  /** See `openPkcs11Backend`. Start-up calls are synchronous: nothing waits for them yet. */
  static async open(config: Pkcs11BackendConfig, logger: Logger = SILENT): Promise<Pkcs11Backend> {
    const profile = profileFor(config.profile);
    const pin = readPin(config.pin);
    const module = loadModule(config.modulePath);
    const { slot, session: owner } = await openOwnerSession(module, config.token, pin, profile);
    const poolSize = config.poolSize ?? 8;
    // One thread per pooled session, the owner session, and one for probes and health checks.
    const calls = new HsmCalls(module, config.modulePath, profile, {
      timeoutMs: config.callTimeoutMs,
      threads: poolSize + 2,
      onNewEpoch: config.onHandleEpochEnd,
    });
    const pool = new SessionPool(calls, slot, poolSize);
    const log = logger.child({ component: 'pkcs11' });
    const backend = new Pkcs11Backend(module, calls, slot, profile, config, pool, log, owner);
    try {
      const keys = { modulePath: config.modulePath, unwrapTemplate: profile.unwrapTemplate };
      // Processes starting together on one SoftHSM2 token meet each other's file rewrites here
      // too (C_GenerateKey or C_FindObjects answering CKR_GENERAL_ERROR): tried again like the
      // login. Each attempt looks before it makes a key, so a key that an attempt reported as
      // failed but did make is found, not made twice.
      backend.domain = await retryTransient(profile, () => loadTokenKeys(calls, owner, 'domain', keys));
      backend.seal = await retryTransient(profile, () => loadTokenKeys(calls, owner, 'seal', keys));
      await calls.prestartThreads();
      // Synchronous, as every start-up call: the token's mechanisms do not change while it runs.
      backend.mechanisms = new Set(module.C_GetMechanismList(slot));
    } catch (e) {
      await backend.close();
      throw e;
    }
    log.info({ profile: profile.name, poolSize, cacheSize: config.cacheSize ?? 1024 }, 'PKCS#11 backend ready');
    return backend;
  }

  /** Input the KMS caller chose, decrypted with a key: the profile's bad-ciphertext codes are data errors. */
  private decryption(): Blame {
    return { callerInput: true, dataCodes: this.profile.badCiphertextCodes };
  }

  // ───────────────────────── KeyBackend ─────────────────────────

  async generateKeyMaterial(spec: KeySpec, usage?: KeyUsage): Promise<GeneratedMaterial> {
    const purpose = materialPurposeOf(spec, usage);
    return this.run('generateKeyMaterial', (s) => this.generate(s, spec, purpose));
  }

  async encryptSymmetric(key: MaterialRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext> {
    requireSymmetric(key);
    // One job on the session (C_EncryptInit and C_Encrypt): it may queue behind another.
    return this.withKey('encryptSymmetric', key, async (s, h) => this.gcmEncrypt(s, h, view(plaintext), view(aad)), {}, true);
  }

  async decryptSymmetric(key: MaterialRef, iv: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    requireSymmetric(key);
    return this.withKey('decryptSymmetric', key, async (s, h) => this.gcmDecrypt(s, h, view(iv), view(ciphertext), view(aad)), this.decryption(), true);
  }

  private gcmEncrypt(s: Handle, key: Handle, plaintext: Buffer, aad: Buffer): Promise<SymmetricCiphertext> {
    return gcmEncrypt(this.calls, this.profile, this.ivs, s, key, plaintext, aad);
  }

  private async gcmDecrypt(s: Handle, key: Handle, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    return gcmDecrypt(this.calls, s, key, iv, ciphertext, aad);
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
    if (specInfo(key.keySpec).family !== 'rsa')
      throw hsmError('CKR_KEY_TYPE_INCONSISTENT', 'decryptAsymmetric', 'data', `A ${key.keySpec} key cannot decrypt RSAES-OAEP ciphertext.`);
    return this.withKey('decryptAsymmetric', key, (s, h) => this.rsaOaepDecrypt(s, h, OAEP_HASH[algorithm], view(ciphertext)), this.decryption());
  }

  /**
   * OAEP hashes the token does itself: what the profile claims, narrowed the first time the token
   * refuses one (a generic token, or SoftHSM2 behind the CloudHSM imitation, may lack SHA-256).
   */
  private readonly oaepHashes = new Set(this.profile.oaepHashes);

  /** Whether RSAES-OAEP with this hash runs in the token (see {@link refusesOaep}). */
  oaepInToken(hash: 'sha1' | 'sha256'): boolean {
    return this.oaepHashes.has(hash);
  }

  /**
   * Whether `error` is the token refusing OAEP with this hash (it rejects the mechanism's
   * parameters before looking at any data, so no input can cause it). If so, the hash is done the
   * other way from now on — raw RSA in the token, padding removed here — and that is logged once.
   */
  refusesOaep(error: unknown, hash: 'sha1' | 'sha256'): boolean {
    const code = toHsmError(error, 'C_DecryptInit').code;
    if (!MECHANISM_REFUSALS.includes(code)) return false;
    if (this.oaepHashes.delete(hash))
      this.log.warn({ ckr: code, hash }, 'the token refuses RSAES-OAEP with this hash; removing OAEP padding in process memory instead');
    return true;
  }

  /**
   * RSAES-OAEP decryption with a private key in the token: in the token when it supports the
   * hash, otherwise raw RSA in the token and the padding removed here (see profiles.ts).
   */
  async rsaOaepDecrypt(s: Handle, key: Handle, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
    if (this.oaepInToken(hash)) {
      try {
        return await this.rsaDecrypt(s, key, oaepMechanism(hash), ciphertext);
      } catch (e) {
        if (!this.refusesOaep(e, hash)) throw e;
      }
    }
    const result = await this.rsaDecrypt(s, key, { mechanism: P.CKM_RSA_X_509 }, ciphertext);
    const [modulus] = await this.calls.call('C_GetAttributeValue', s, key, [{ type: P.CKA_MODULUS }]);
    try {
      return oaepDecode(hash, result, (modulus!.value as Buffer).length);
    } finally {
      result.fill(0);
    }
  }

  private async rsaDecrypt(s: Handle, key: Handle, mechanism: Mechanism, ciphertext: Buffer): Promise<Buffer> {
    const out = Buffer.alloc(1024);
    try {
      return Buffer.from(await this.calls.initAndRun('rsa', ['C_DecryptInit', s, mechanism, key], ['C_Decrypt', s, ciphertext, out]));
    } finally {
      out.fill(0);
    }
  }

  keySpecUnavailable(spec: KeySpec): string | undefined {
    const missing = (requiredMechanisms(spec) ?? []).filter((m) => !this.mechanisms.has(m.mechanism));
    if (missing.length === 0) return undefined;
    return `This HSM does not offer ${missing.map((m) => m.name).join(' and ')}, which ${spec} keys need; it cannot hold ${spec} keys.`;
  }

  async signingAlgorithmUnavailable(algorithm: SigningAlgorithm): Promise<string | undefined> {
    if (SIGNING[algorithm].scheme !== 'eddsa-ph') return undefined;
    const probe = (this.ed25519ph ??= this.probeEd25519ph());
    probe.catch(() => {
      if (this.ed25519ph === probe) this.ed25519ph = undefined;
    });
    if (await probe) return undefined;
    return (
      'This HSM does not sign with Ed25519ph (CKM_EDDSA with CK_EDDSA_PARAMS phFlag): it ignores or refuses the prehash flag, ' +
      'so ED25519_PH_SHA_512 is not available with this key store. Sign the message with ED25519_SHA_512 and MessageType RAW.'
    );
  }

  /**
   * Whether the token does Ed25519ph: a session key pair signs one message with CKM_EDDSA without
   * and with phFlag. EdDSA is deterministic, so a token that ignores the flag (SoftHSM2 2.6 does)
   * returns the pure signature twice; one that refuses the parameter says so at C_SignInit. Either
   * way it cannot make ED25519_PH_SHA_512 signatures, and never makes a wrong one in its name.
   */
  private probeEd25519ph(): Promise<boolean> {
    return this.run('probeEd25519ph', async (s) => {
      const req = eddsaKeyPairRequest(this.profile, this.profile.uniqueKeyIds ? randomBytes(16) : undefined, false);
      const pair = await this.calls.op('generate', 'C_GenerateKeyPair', s, req.mechanism, req.publicKey, req.privateKey);
      try {
        const message = Buffer.from('hsmkms Ed25519ph probe');
        const pure = signingRequest('ED25519_SHA_512', message);
        const hashed = signingRequest('ED25519_PH_SHA_512', message);
        const plain = Buffer.from(await this.calls.initAndRun('ec-other', ['C_SignInit', s, pure.mechanism, pair.privateKey], ['C_Sign', s, pure.input, Buffer.alloc(64)]));
        let prehashed: Buffer;
        try {
          prehashed = Buffer.from(await this.calls.initAndRun('ec-other', ['C_SignInit', s, hashed.mechanism, pair.privateKey], ['C_Sign', s, hashed.input, Buffer.alloc(64)]));
        } catch (e) {
          const code = toHsmError(e, 'C_SignInit').code;
          if (MECHANISM_REFUSALS.includes(code)) return this.noEd25519ph(code);
          throw e;
        }
        return prehashed.equals(plain) ? this.noEd25519ph('phFlag ignored') : true;
      } finally {
        await this.destroyQuietly(s, pair.privateKey, pair.publicKey);
      }
    });
  }

  private noEd25519ph(why: string): false {
    this.log.warn({ why }, 'the token does not do Ed25519ph; ED25519_PH_SHA_512 is refused');
    return false;
  }

  async sign(key: MaterialRef, algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): Promise<Buffer> {
    const digest = toDigest(algorithm, message, messageType);
    const { mechanism, input } = signingRequest(algorithm, digest);
    const kind = specInfo(key.keySpec).callKind;
    return this.withKey('sign', key, async (s, h) => {
      const raw = Buffer.from(await this.calls.initAndRun(kind, ['C_SignInit', s, mechanism, h], ['C_Sign', s, input, Buffer.alloc(1024)]));
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
    // a precomputed digest (DIGEST message type), and one path for both types is simpler. The
    // copy is cached (withPublicKey): a cached key's Verify makes no object in the token.
    // Pure Ed25519 has the whole message, which node:crypto verifies without a token object.
    if (SIGNING[algorithm].scheme === 'eddsa') return verifyEd25519(key.publicKey, message, signature);
    const digest = toDigest(algorithm, message, messageType);
    const { mechanism, input } = signingRequest(algorithm, digest);
    const info = specInfo(key.keySpec);
    let sig: Buffer | undefined = Buffer.from(signature);
    if (SIGNING[algorithm].scheme === 'ecdsa') sig = ecdsaDerToRaw(sig, info.ecFieldBytes!);
    if (!sig) return false;
    const signatureBytes = sig;
    const template = () => publicKeyTemplate(key.keySpec, Buffer.from(key.publicKey), this.profile.uniqueKeyIds ? randomBytes(16) : undefined);
    return this.withPublicKey(
      'verify',
      key,
      template,
      async (s, handle) => {
        try {
          return await this.calls.initAndRun(info.callKind, ['C_VerifyInit', s, mechanism, handle], ['C_Verify', s, input, signatureBytes]);
        } catch (e) {
          const code = toHsmError(e, 'C_Verify').code;
          if (code === 'CKR_SIGNATURE_INVALID' || code === 'CKR_SIGNATURE_LEN_RANGE') return false;
          throw e;
        }
      },
      { callerInput: true },
    );
  }

  async generateMac(key: MaterialRef, algorithm: MacAlgorithm, message: Uint8Array): Promise<Buffer> {
    const mech = HMAC_MECH[algorithm];
    return this.withKey('generateMac', key, async (s, h) =>
      Buffer.from(await this.calls.initAndRun('hmac', ['C_SignInit', s, { mechanism: mech.mechanism }, h], ['C_Sign', s, view(message), Buffer.alloc(mech.bytes)])),
    );
  }

  /**
   * ECDH in the token: C_DeriveKey (CKM_ECDH1_DERIVE, CKD_NULL) of the CMK's private key with the
   * peer's point into a readable session secret, read and destroyed in the same job. The CMK's
   * handle was unwrapped from a key-agreement blob: CKA_DERIVE only, sensitive, not extractable.
   */
  async deriveSharedSecret(key: MaterialRef, peerPublicKey: Uint8Array): Promise<Buffer> {
    const info = specInfo(key.keySpec);
    if (info.family !== 'ec') throw hsmError('CKR_KEY_TYPE_INCONSISTENT', 'C_DeriveKey', 'data', `A ${key.keySpec} key cannot derive a shared secret.`);
    const point = peerPoint(peerPublicKey, key.keySpec);
    return this.withKey(
      'deriveSharedSecret',
      key,
      async (s, h) => this.ecdhX(info.callKind, s, h, point, key.keySpec, this.profile.uniqueKeyIds ? randomBytes(16) : undefined),
      { callerInput: true },
    );
  }

  /**
   * C_DeriveKey (CKM_ECDH1_DERIVE, CKD_NULL) of an EC private key with an uncompressed point into a
   * readable session secret ({@link sharedSecretTemplate}): its value (the x-coordinate of the shared
   * point), read and the object destroyed in the same job, also on failure.
   */
  async ecdhX(kind: CallKind, s: Handle, key: Handle, point: Buffer, spec: KeySpec, id: Buffer | undefined): Promise<Buffer> {
    const mechanism = { mechanism: P.CKM_ECDH1_DERIVE, parameter: { type: P.CK_PARAMS_EC_DH, kdf: P.CKD_NULL, publicData: point } };
    const secret = await this.calls.op(kind, 'C_DeriveKey', s, mechanism, key, sharedSecretTemplate(spec, id));
    let value: Buffer | undefined;
    try {
      value = Buffer.from((await this.calls.call('C_GetAttributeValue', s, secret, [{ type: P.CKA_VALUE }]))[0]!.value as Buffer);
    } finally {
      try {
        await this.calls.call('C_DestroyObject', s, secret);
      } catch (e) {
        value?.fill(0);
        // The readable secret would stay in a pooled session for as long as it lives: the session
        // is closed instead (which destroys it) and the call retried on another ('replace').
        if (e instanceof HsmTimeoutError) throw e;
        throw toHsmError(e, 'C_DestroyObject').judged('unavailable', 'replace');
      }
    }
    return value!;
  }

  async generateRandom(length: number): Promise<Buffer> {
    if (!Number.isInteger(length) || length < 1 || length > 65536)
      throw hsmError('CKR_ARGUMENTS_BAD', 'C_GenerateRandom', 'data', 'Random length must be 1 to 65536 bytes.');
    return this.run('generateRandom', async (s) => Buffer.from(await this.calls.call('C_GenerateRandom', s, Buffer.alloc(length))));
  }

  async generateDataKeyPair(spec: DataKeyPairSpec): Promise<DataKeyPair> {
    // The private key goes to the caller in plaintext by KMS design, so it is made in software —
    // on libuv's thread pool: an RSA-4096 pair takes a second or more, which the event loop
    // must not wait for.
    const info = specInfo(spec);
    const pair =
      info.family === 'rsa'
        ? await generateKeyPairAsync('rsa', { modulusLength: info.modulusBits!, publicExponent: 65537 })
        : info.family === 'ed'
          ? await generateKeyPairAsync('ed25519')
          : await generateKeyPairAsync('ec', { namedCurve: info.jwkCurve! });
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
    return this.withKey('importKeyMaterial', wrappingKey, (s, h) => importMaterial(this, s, h, algorithm, view(encryptedMaterial), target), {
      callerInput: true,
    });
  }

  materialIsObject(spec: KeySpec): boolean {
    return specInfo(spec).tokenObject === true;
  }

  forget(id: string): void {
    this.forgetMaterial(id);
  }

  async sealSecret(plaintext: Uint8Array): Promise<Buffer> {
    return this.run('sealSecret', async (s) => {
      // Found before a reset or a renewed login (handle-cache.ts, epochs): look the keys up again.
      if (this.seal.stale) this.seal = await reloadTokenKeys(this.calls, s, 'seal');
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
        let key = this.seal.stale ? undefined : this.seal.get(parsed.sealKeyId);
        if (!key) {
          // Another process sharing the token may have made it after we looked (nodes racing on
          // their first start): look again, as for domain keys.
          this.seal = await reloadTokenKeys(this.calls, s, 'seal');
          key = this.seal.get(parsed.sealKeyId);
        }
        // Sealed secrets reach us from callers too (import tokens): one naming a seal key this
        // token does not hold is not one of ours.
        if (!key) throw hsmError('ERR_UNKNOWN_SEAL_KEY', 'unsealSecret', 'data', 'The seal key for this secret is not in the token.');
        return this.gcmDecrypt(s, key, parsed.iv, parsed.ciphertext, parsed.header);
      },
      this.decryption(),
    );
  }

  // ───────────────────────── AuditSigner (audit-signing-key.ts) ─────────────────────────

  auditPublicKey(): Promise<Buffer> {
    return this.run('auditPublicKey', (s) => this.auditKey.publicKey(this.calls, s));
  }

  signAuditDigest(payload: Uint8Array): Promise<Buffer> {
    return this.run('signAuditDigest', (s) => this.auditKey.sign(this.calls, s, payload));
  }

  // ───────────────────────── ReplicaTransport (replica-transport.ts) ─────────────────────────

  async generateReplicableMaterial(spec: KeySpec, usage?: KeyUsage): Promise<ReplicableMaterial> {
    const purpose = materialPurposeOf(spec, usage);
    return this.run('generateReplicableMaterial', (s) => generateReplicable(this, s, this.replicationKeys(s), spec, purpose));
  }

  unreplicableSpec(spec: KeySpec): string | undefined {
    if (!specInfo(spec).tokenObject) return undefined;
    return `${spec} key material stays in this HSM as a token object that cannot be extracted or wrapped, so it cannot be copied to another Region's HSM; create a single-Region key (MultiRegion false).`;
  }

  transportHashes(): TransportHash[] {
    return transportHashes(this);
  }

  wrapForReplica(material: TransferRef, transportPublicKey: Uint8Array, hash: TransportHash): Promise<Buffer> {
    return this.run('wrapForReplica', (s) => wrapForReplica(this, s, this.replicationKeys(s), material, transportPublicKey, hash));
  }

  async unwrapFromReplica(
    transportKey: MaterialRef,
    hash: TransportHash,
    wrapped: Uint8Array,
    spec: KeySpec,
    usage?: KeyUsage,
    publicKey?: Uint8Array,
  ): Promise<ReplicableMaterial> {
    const purpose = materialPurposeOf(spec, usage);
    return this.withKey('unwrapFromReplica', transportKey, (s, h) => unwrapFromReplica(this, s, this.replicationKeys(s), h, hash, view(wrapped), spec, purpose, publicKey), {
      callerInput: true,
    });
  }

  /** Finds (or, the first time, creates) the replication key on `session`; later calls share the answer. */
  private replicationKeys(session: Handle): () => Promise<TokenKeySet> {
    return () => {
      const keys = (this.replication ??= loadTokenKeys(this.calls, session, 'replication', { modulePath: this.config.modulePath, unwrapTemplate: false }));
      keys.catch(() => {
        if (this.replication === keys) this.replication = undefined;
      });
      return keys;
    };
  }

  /** Whenever the runtime looks its own keys up again (a lost login, stale handles, a reset), the audit key's handles go too. */
  protected override async reloadKeys(session: Handle): Promise<void> {
    this.auditKey.forget();
    this.replication = undefined;
    await super.reloadKeys(session);
  }
}

/** AES-GCM needs an AES key: a blob naming another key type is bad input, caught before the token. */
function requireSymmetric(key: MaterialRef): void {
  if (specInfo(key.keySpec).family !== 'aes')
    throw hsmError('CKR_KEY_TYPE_INCONSISTENT', 'C_EncryptInit', 'data', `A ${key.keySpec} key cannot be used for AES-GCM.`);
}

/** A Buffer over the same memory (no copy: plaintext should not be duplicated needlessly). */
function view(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** What the token signs: a digest made here, or (EdDSA, which hashes inside the algorithm) the message as it came. */
function toDigest(algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): Buffer {
  const info = SIGNING[algorithm];
  if (messageType === 'RAW') return signsMessage(algorithm) ? Buffer.from(message) : createHash(info.hash).update(message).digest();
  if (message.length !== info.digestBytes)
    throw hsmError('CKR_DATA_LEN_RANGE', 'sign', 'data', `A ${algorithm} digest must be ${info.digestBytes} bytes.`);
  return Buffer.from(message);
}

/** Pure Ed25519 verification of a whole message; a signature that is not one simply does not verify. */
function verifyEd25519(spki: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify(null, message, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), signature);
  } catch {
    return false;
  }
}

/** A session public-key object for verification, from SPKI DER (via node:crypto's JWK export). */
function publicKeyTemplate(spec: KeySpec, spki: Buffer, id: Buffer | undefined): Template {
  const info = specInfo(spec);
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const common: Template = [
    { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_VERIFY, value: true },
    ...(id ? [{ type: P.CKA_ID, value: id }] : []),
  ];
  if (info.family === 'rsa')
    return [
      ...common,
      { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      { type: P.CKA_MODULUS, value: Buffer.from(jwk.n!, 'base64url') },
      { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e!, 'base64url') },
    ];
  if (info.family === 'ed') {
    // Ed25519ph is verified in the token that signs it (signingAlgorithmUnavailable refuses it elsewhere).
    const point = Buffer.from(jwk.x!, 'base64url');
    return [
      ...common,
      { type: P.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      { type: P.CKA_EC_PARAMS, value: info.ecParams! },
      { type: P.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, point.length]), point]) },
    ];
  }
  return [
    ...common,
    { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
    { type: P.CKA_EC_PARAMS, value: info.ecParams! },
    { type: P.CKA_EC_POINT, value: ecPointAttribute(Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')) },
  ];
}

/**
 * The uncompressed point (04‖x‖y) of a peer's EC SubjectPublicKeyInfo (strict DER, named curve, on
 * the curve: ec-spki.ts, which never lets node:crypto's key accessors see it); anything else is bad input.
 */
function peerPoint(spki: Uint8Array, spec: KeySpec): Buffer {
  const curve = EC_SPEC_CURVES[spec];
  const point = curve === undefined ? undefined : ecSpkiPoint(spki, curve);
  if (point === undefined) throw hsmError('CKR_DOMAIN_PARAMS_INVALID', 'C_DeriveKey', 'data', `The peer public key is not a SubjectPublicKeyInfo of a point on the curve of ${spec}.`);
  return point;
}
