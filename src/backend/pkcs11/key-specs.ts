/**
 * What each KMS key spec and algorithm means in PKCS#11 terms: key types, generation mechanisms,
 * templates for generating (extractable just long enough to be wrapped) and for unwrapping
 * (never extractable), and the signing / decryption mechanisms. Tables, not branches.
 */
import pkcs11js from 'pkcs11js';
import type { Attribute, Mechanism, RsaOAEP, RsaPSS, Template } from 'pkcs11js';
import type { EncryptionAlgorithm, KeySpec, MacAlgorithm, SigningAlgorithm } from '../../core/model.js';
import type { MaterialPurpose } from './material-blob.js';
import type { CallKind, HsmProfile } from './profiles.js';

const P = pkcs11js;
/** PKCS#11's CKZ_DATA_SPECIFIED (OAEP label source); pkcs11js does not export it. */
const CKZ_DATA_SPECIFIED = 1;
/** PKCS#11 3.0's EdDSA names (pkcs11js 2.1 exports none of them). */
export const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** `ed`: EdDSA keys (CKK_EC_EDWARDS), which sign with CKM_EDDSA and do nothing else. */
export type Family = 'aes' | 'hmac' | 'rsa' | 'ec' | 'ed';

export interface SpecInfo {
  family: Family;
  /** Which call mode table entry applies to private-key / secret-key operations. */
  callKind: CallKind;
  /** AES / HMAC key length in bytes. */
  valueLen?: number;
  /** RSA modulus bits. */
  modulusBits?: number;
  /** EC: DER-encoded named-curve OID (CKA_EC_PARAMS) and the JWK curve name. */
  ecParams?: Buffer;
  jwkCurve?: string;
  /** EC field size in bytes, for raw r‖s signatures. */
  ecFieldBytes?: number;
  /**
   * The private key is a persistent token object (CKA_TOKEN, sensitive, never extractable from its
   * birth), found by CKA_ID through a token key reference (token-key-reference.ts), instead of a
   * session object wrapped under the domain key. For EdDSA: SoftHSM2 2.6 cannot wrap or unwrap a
   * CKK_EC_EDWARDS private key (C_WrapKey answers CKR_KEY_NOT_WRAPPABLE) and PKCS#11 obliges no
   * token to; a key that never leaves the token needs no token's wrapping. Its material therefore
   * cannot travel to another token (no multi-Region keys) and is destroyed with the key.
   */
  tokenObject?: boolean;
}

const oid = (hex: string) => Buffer.from(hex, 'hex');

/** Every KMS key spec this backend can hold. */
export const SPECS: Readonly<Record<KeySpec, SpecInfo>> = {
  SYMMETRIC_DEFAULT: { family: 'aes', callKind: 'aes', valueLen: 32 },
  HMAC_224: { family: 'hmac', callKind: 'hmac', valueLen: 28 },
  HMAC_256: { family: 'hmac', callKind: 'hmac', valueLen: 32 },
  HMAC_384: { family: 'hmac', callKind: 'hmac', valueLen: 48 },
  HMAC_512: { family: 'hmac', callKind: 'hmac', valueLen: 64 },
  RSA_2048: { family: 'rsa', callKind: 'rsa', modulusBits: 2048 },
  RSA_3072: { family: 'rsa', callKind: 'rsa', modulusBits: 3072 },
  RSA_4096: { family: 'rsa', callKind: 'rsa', modulusBits: 4096 },
  ECC_NIST_P256: { family: 'ec', callKind: 'ec-p256', ecParams: oid('06082a8648ce3d030107'), jwkCurve: 'P-256', ecFieldBytes: 32 },
  ECC_NIST_P384: { family: 'ec', callKind: 'ec-other', ecParams: oid('06052b81040022'), jwkCurve: 'P-384', ecFieldBytes: 48 },
  ECC_NIST_P521: { family: 'ec', callKind: 'ec-other', ecParams: oid('06052b81040023'), jwkCurve: 'P-521', ecFieldBytes: 66 },
  ECC_SECG_P256K1: { family: 'ec', callKind: 'ec-other', ecParams: oid('06052b8104000a'), jwkCurve: 'secp256k1', ecFieldBytes: 32 },
  // CKA_EC_PARAMS as the OID id-Ed25519 (1.3.101.112, RFC 8410), which PKCS#11 3.0 allows beside the curve name.
  ECC_NIST_EDWARDS25519: { family: 'ed', callKind: 'ec-other', ecParams: oid('06032b6570'), jwkCurve: 'Ed25519', tokenObject: true },
};

export function specInfo(spec: KeySpec): SpecInfo {
  return SPECS[spec];
}

/**
 * Usage attributes of the secret or private key, all stated explicitly: token defaults differ
 * (SoftHSM2 makes secret keys usable for everything unless told otherwise).
 */
function usage(family: Family, purpose: MaterialPurpose): Template {
  if (purpose === 'key-agreement' && family !== 'ec') throw new TypeError(`a ${family} key cannot be a key agreement key`);
  const allowed: Set<number> =
    purpose === 'import-wrapping'
      ? new Set([P.CKA_UNWRAP, P.CKA_DECRYPT])
      : purpose === 'key-agreement'
        ? new Set([P.CKA_DERIVE])
        : new Set(
          {
            aes: [P.CKA_ENCRYPT, P.CKA_DECRYPT],
            hmac: [P.CKA_SIGN, P.CKA_VERIFY],
            rsa: [P.CKA_SIGN, P.CKA_DECRYPT],
            ec: [P.CKA_SIGN],
            ed: [P.CKA_SIGN],
          }[family],
        );
  const secret = family === 'aes' || family === 'hmac';
  const all = secret
    ? [P.CKA_ENCRYPT, P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_VERIFY, P.CKA_WRAP, P.CKA_UNWRAP, P.CKA_DERIVE]
    : [P.CKA_DECRYPT, P.CKA_SIGN, P.CKA_SIGN_RECOVER, P.CKA_UNWRAP, P.CKA_DERIVE];
  return all.map((type) => ({ type, value: allowed.has(type) }));
}

function classAndType(info: SpecInfo): Template {
  switch (info.family) {
    case 'aes':
      return [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      ];
    case 'hmac':
      return [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
      ];
    case 'rsa':
      return [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
      ];
    case 'ec':
      return [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_EC },
      ];
    case 'ed':
      return [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
      ];
  }
}

/**
 * Attributes every material object gets. `extractable` is true only for the short-lived copy that
 * is generated or imported in order to be wrapped under the domain key and then destroyed.
 */
function common(extractable: boolean, profile: HsmProfile, id: Buffer | undefined): Template {
  const t: Attribute[] = [
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: extractable },
  ];
  if (extractable && profile.wrapWithTrusted) t.push({ type: P.CKA_WRAP_WITH_TRUSTED, value: true });
  if (id) t.push({ type: P.CKA_ID, value: id });
  return t;
}

/**
 * Mechanisms a spec needs that PKCS#11 2.40 tokens may lack (AWS CloudHSM's PKCS#11 library lists
 * no EdDSA mechanism), by name for messages; undefined where the 2.40 baseline suffices.
 */
export function requiredMechanisms(spec: KeySpec): readonly { mechanism: number; name: string }[] | undefined {
  if (SPECS[spec].family !== 'ed') return undefined;
  return [
    { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN, name: 'CKM_EC_EDWARDS_KEY_PAIR_GEN' },
    { mechanism: CKM_EDDSA, name: 'CKM_EDDSA' },
  ];
}

/** The CKA_LABEL of the token objects that hold EdDSA key material (`tokenObject` specs). */
export const TOKEN_MATERIAL_LABEL = 'hsmkms-key-material';

/**
 * How to generate material for a spec: mechanism and templates (extractable session objects; for a
 * `tokenObject` spec a persistent, never extractable private key, which needs `id` to be found again).
 */
export function generationRequest(
  spec: KeySpec,
  purpose: MaterialPurpose,
  profile: HsmProfile,
  id: Buffer | undefined,
): { mechanism: Mechanism; secret?: Template; publicKey?: Template; privateKey?: Template } {
  const info = SPECS[spec];
  const priv = [...common(true, profile, id), ...usage(info.family, purpose)];
  const pubCommon: Template = [
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_PRIVATE, value: false },
    ...(id ? [{ type: P.CKA_ID, value: id }] : []),
  ];
  switch (info.family) {
    case 'aes':
      return { mechanism: { mechanism: P.CKM_AES_KEY_GEN }, secret: [...classAndType(info), { type: P.CKA_VALUE_LEN, value: info.valueLen! }, ...priv] };
    case 'hmac':
      return {
        mechanism: { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN },
        secret: [...classAndType(info), { type: P.CKA_VALUE_LEN, value: info.valueLen! }, ...priv],
      };
    case 'rsa':
      return {
        mechanism: { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
        publicKey: [
          ...pubCommon,
          { type: P.CKA_MODULUS_BITS, value: info.modulusBits! },
          { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          { type: P.CKA_VERIFY, value: true },
          { type: P.CKA_ENCRYPT, value: true },
        ],
        privateKey: priv,
      };
    case 'ec':
      return {
        mechanism: { mechanism: P.CKM_EC_KEY_PAIR_GEN },
        publicKey: [...pubCommon, { type: P.CKA_EC_PARAMS, value: info.ecParams! }, { type: P.CKA_VERIFY, value: purpose !== 'key-agreement' }],
        privateKey: priv,
      };
    case 'ed':
      if (!id || purpose !== 'cmk') throw new TypeError(`${spec} material is a signing key found by its CKA_ID`);
      return eddsaKeyPairRequest(profile, id, true);
  }
}

/**
 * An Ed25519 key pair: the private key sensitive and never extractable, a persistent token object
 * labelled {@link TOKEN_MATERIAL_LABEL} (`token`: CMK material) or a session object (a probe).
 */
export function eddsaKeyPairRequest(
  profile: HsmProfile,
  id: Buffer | undefined,
  token: boolean,
): { mechanism: Mechanism; publicKey: Template; privateKey: Template } {
  const info = SPECS.ECC_NIST_EDWARDS25519;
  return {
    mechanism: { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
    publicKey: [
      { type: P.CKA_TOKEN, value: false },
      { type: P.CKA_PRIVATE, value: false },
      ...(id ? [{ type: P.CKA_ID, value: id }] : []),
      { type: P.CKA_EC_PARAMS, value: info.ecParams! },
      { type: P.CKA_VERIFY, value: true },
    ],
    privateKey: [
      ...common(false, profile, id).map((a) => (a.type === P.CKA_TOKEN ? { type: P.CKA_TOKEN, value: token } : a)),
      ...(token ? [{ type: P.CKA_LABEL, value: TOKEN_MATERIAL_LABEL }] : []),
      ...usage(info.family, 'cmk'),
    ],
  };
}

/** What finds the token object of `tokenObject` material: its class, type, label and CKA_ID. */
export function tokenMaterialTemplate(spec: KeySpec, id: Buffer): Template {
  return [...classAndType(SPECS[spec]), { type: P.CKA_TOKEN, value: true }, { type: P.CKA_LABEL, value: TOKEN_MATERIAL_LABEL }, { type: P.CKA_ID, value: id }];
}

/**
 * Template for unwrapping material. `forUse`: the cached working copy (never extractable);
 * otherwise the transient copy of imported material that is re-wrapped under the domain key.
 */
export function unwrapTemplate(spec: KeySpec, purpose: MaterialPurpose, profile: HsmProfile, forUse: boolean, id?: Buffer): Template {
  const info = SPECS[spec];
  return [...classAndType(info), ...common(!forUse, profile, id), ...usage(info.family, purpose)];
}

/**
 * The ephemeral AES key of an RSA_AES_KEY_WRAP payload, as it is unwrapped with the RSA key: a
 * session object that can only unwrap the material after it, never leave the token.
 */
export function ephemeralUnwrapKeyTemplate(id: Buffer | undefined): Template {
  return [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_UNWRAP, value: true },
    ...(id ? [{ type: P.CKA_ID, value: id }] : []),
  ];
}

/**
 * The session object C_DeriveKey makes for DeriveSharedSecret: the raw ECDH secret (the shared
 * point's x-coordinate), readable because KMS returns it to the caller, destroyed at once.
 */
export function sharedSecretTemplate(spec: KeySpec, id: Buffer | undefined): Template {
  return [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_SENSITIVE, value: false },
    { type: P.CKA_EXTRACTABLE, value: true },
    { type: P.CKA_VALUE_LEN, value: SPECS[spec].ecFieldBytes! },
    // Nothing but reading it out: no usage a later call could put it to.
    { type: P.CKA_ENCRYPT, value: false },
    { type: P.CKA_DECRYPT, value: false },
    { type: P.CKA_SIGN, value: false },
    { type: P.CKA_VERIFY, value: false },
    { type: P.CKA_WRAP, value: false },
    { type: P.CKA_UNWRAP, value: false },
    { type: P.CKA_DERIVE, value: false },
    ...(id ? [{ type: P.CKA_ID, value: id }] : []),
  ];
}

/** The usages a persistent AES token key may be given; every other usage attribute is false. */
export type TokenAesUsage = Partial<Record<'encrypt' | 'decrypt' | 'wrap' | 'unwrap', boolean>>;

/**
 * A persistent AES-256 token object addressed by label and CKA_ID: private, sensitive, never
 * extractable, with exactly `usage` (every usage attribute set, so no token default applies). The
 * backend's own domain and seal keys (token-keys.ts) and the keys of custom key stores and the
 * XKS proxy (token-keyring.ts) are made from it.
 */
export function tokenAesKeyTemplate(label: string, id: Buffer, usage: TokenAesUsage): Template {
  return [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
    { type: P.CKA_VALUE_LEN, value: 32 },
    { type: P.CKA_TOKEN, value: true },
    { type: P.CKA_PRIVATE, value: true },
    { type: P.CKA_SENSITIVE, value: true },
    { type: P.CKA_EXTRACTABLE, value: false },
    { type: P.CKA_LABEL, value: label },
    { type: P.CKA_ID, value: id },
    { type: P.CKA_ENCRYPT, value: usage.encrypt ?? false },
    { type: P.CKA_DECRYPT, value: usage.decrypt ?? false },
    { type: P.CKA_WRAP, value: usage.wrap ?? false },
    { type: P.CKA_UNWRAP, value: usage.unwrap ?? false },
    { type: P.CKA_SIGN, value: false },
    { type: P.CKA_VERIFY, value: false },
    { type: P.CKA_DERIVE, value: false },
  ];
}

/** DigestInfo prefixes (RFC 8017 §9.2 note 1) for RSASSA-PKCS1-v1_5 over a precomputed digest. */
const DIGEST_INFO: Readonly<Record<'sha256' | 'sha384' | 'sha512', Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export type HashName = 'sha256' | 'sha384' | 'sha512';

interface SigningInfo {
  hash: HashName;
  digestBytes: number;
  /** `eddsa`: pure Ed25519 over the message itself; `eddsa-ph`: Ed25519ph over a caller's SHA-512 digest. */
  scheme: 'pkcs1' | 'pss' | 'ecdsa' | 'eddsa' | 'eddsa-ph';
}

export const SIGNING: Readonly<Record<SigningAlgorithm, SigningInfo>> = {
  RSASSA_PSS_SHA_256: { hash: 'sha256', digestBytes: 32, scheme: 'pss' },
  RSASSA_PSS_SHA_384: { hash: 'sha384', digestBytes: 48, scheme: 'pss' },
  RSASSA_PSS_SHA_512: { hash: 'sha512', digestBytes: 64, scheme: 'pss' },
  RSASSA_PKCS1_V1_5_SHA_256: { hash: 'sha256', digestBytes: 32, scheme: 'pkcs1' },
  RSASSA_PKCS1_V1_5_SHA_384: { hash: 'sha384', digestBytes: 48, scheme: 'pkcs1' },
  RSASSA_PKCS1_V1_5_SHA_512: { hash: 'sha512', digestBytes: 64, scheme: 'pkcs1' },
  ECDSA_SHA_256: { hash: 'sha256', digestBytes: 32, scheme: 'ecdsa' },
  ECDSA_SHA_384: { hash: 'sha384', digestBytes: 48, scheme: 'ecdsa' },
  ECDSA_SHA_512: { hash: 'sha512', digestBytes: 64, scheme: 'ecdsa' },
  ED25519_SHA_512: { hash: 'sha512', digestBytes: 64, scheme: 'eddsa' },
  ED25519_PH_SHA_512: { hash: 'sha512', digestBytes: 64, scheme: 'eddsa-ph' },
};

/** Whether a scheme signs the message itself (EdDSA hashes inside the algorithm), not a digest made here. */
export function signsMessage(algorithm: SigningAlgorithm): boolean {
  const scheme = SIGNING[algorithm].scheme;
  return scheme === 'eddsa' || scheme === 'eddsa-ph';
}

/**
 * CK_EDDSA_PARAMS {CK_BBOOL phFlag; CK_ULONG ulContextDataLen; CK_BYTE_PTR pContextData} with no
 * context, as the bytes pkcs11js passes through (it has no EdDSA parameter type): phFlag, padding
 * to CK_ULONG's alignment, then zeros. CK_ULONG is 4 bytes on Windows, 8 elsewhere (LP64).
 */
function eddsaParams(prehash: boolean): Buffer {
  const ulong = process.platform === 'win32' ? 4 : 8;
  const params = Buffer.alloc(ulong + ulong + (process.arch.endsWith('64') ? 8 : 4));
  params[0] = prehash ? 1 : 0;
  return params;
}

const HASH_MECH: Readonly<Record<HashName, { hashAlg: number; mgf: number }>> = {
  sha256: { hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256 },
  sha384: { hashAlg: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384 },
  sha512: { hashAlg: P.CKM_SHA512, mgf: P.CKG_MGF1_SHA512 },
};

/**
 * The mechanism and input for signing a digest. Messages are hashed in software first (hashing
 * needs no secret), so RAW and DIGEST share one path and work on tokens without CKM_ECDSA_SHA*.
 * EdDSA ({@link signsMessage}) takes the message as it came: pure Ed25519 the RAW message, and
 * Ed25519ph (CKM_EDDSA with phFlag) the caller's 64-byte digest, which the token hashes again
 * (PH = SHA-512), as AWS documents: "the input is hashed twice: once by you and once by KMS".
 */
export function signingRequest(algorithm: SigningAlgorithm, digest: Buffer): { mechanism: Mechanism; input: Buffer } {
  const s = SIGNING[algorithm];
  switch (s.scheme) {
    case 'pkcs1':
      return { mechanism: { mechanism: P.CKM_RSA_PKCS }, input: Buffer.concat([DIGEST_INFO[s.hash], digest]) };
    case 'pss':
      return {
        mechanism: {
          mechanism: P.CKM_RSA_PKCS_PSS,
          // KMS uses a salt as long as the digest.
          parameter: pss(s.hash, s.digestBytes),
        },
        input: digest,
      };
    case 'ecdsa':
      return { mechanism: { mechanism: P.CKM_ECDSA }, input: digest };
    case 'eddsa':
      return { mechanism: { mechanism: CKM_EDDSA }, input: digest };
    case 'eddsa-ph':
      return { mechanism: { mechanism: CKM_EDDSA, parameter: eddsaParams(true) }, input: digest };
  }
}

function pss(hash: HashName, saltLen: number): RsaPSS {
  return { type: P.CK_PARAMS_RSA_PSS, ...HASH_MECH[hash], saltLen };
}

function oaep(hash: 'sha1' | 'sha256'): RsaOAEP {
  return {
    type: P.CK_PARAMS_RSA_OAEP,
    hashAlg: hash === 'sha1' ? P.CKM_SHA_1 : P.CKM_SHA256,
    mgf: hash === 'sha1' ? P.CKG_MGF1_SHA1 : P.CKG_MGF1_SHA256,
    source: CKZ_DATA_SPECIFIED,
  };
}

/** RSAES-OAEP mechanism for a KMS encryption or wrapping algorithm's hash. */
export function oaepMechanism(hash: 'sha1' | 'sha256'): Mechanism {
  return {
    mechanism: P.CKM_RSA_PKCS_OAEP,
    parameter: oaep(hash),
  };
}

/**
 * The call kind of a C_UnwrapKey: under RSA-OAEP it is an RSA private-key operation (`rsa`, kept
 * off the event loop where RSA is); under an AES key-wrap mechanism it is `unwrap`.
 */
export function unwrapCallKind(mechanism: Mechanism): CallKind {
  return mechanism.mechanism === P.CKM_RSA_PKCS_OAEP ? 'rsa' : 'unwrap';
}

export const OAEP_HASH: Readonly<Record<Exclude<EncryptionAlgorithm, 'SYMMETRIC_DEFAULT'>, 'sha1' | 'sha256'>> = {
  RSAES_OAEP_SHA_1: 'sha1',
  RSAES_OAEP_SHA_256: 'sha256',
};

export const HMAC_MECH: Readonly<Record<MacAlgorithm, { mechanism: number; bytes: number }>> = {
  HMAC_SHA_224: { mechanism: P.CKM_SHA224_HMAC, bytes: 28 },
  HMAC_SHA_256: { mechanism: P.CKM_SHA256_HMAC, bytes: 32 },
  HMAC_SHA_384: { mechanism: P.CKM_SHA384_HMAC, bytes: 48 },
  HMAC_SHA_512: { mechanism: P.CKM_SHA512_HMAC, bytes: 64 },
};
