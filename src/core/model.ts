/**
 * The KMS domain vocabulary. String unions hold exactly the values that travel on the
 * AWS wire, so a value can be copied between a request, a record and a response unchanged.
 */

export const KEY_SPECS = [
  'SYMMETRIC_DEFAULT',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  // Appended, never inserted: a material blob records its spec as an index into this list (material-blob.ts).
  'ECC_NIST_EDWARDS25519',
] as const;
/** A key's type and size (AWS `KeySpec`). */
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export const KEY_STATES = [
  'Creating',
  'Enabled',
  'Disabled',
  'PendingDeletion',
  'PendingImport',
  'PendingReplicaDeletion',
  'Unavailable',
  'Updating',
] as const;
export type KeyState = (typeof KEY_STATES)[number];

export const ORIGINS = ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
export type Origin = (typeof ORIGINS)[number];

export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export const SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
  // EdDSA (ECC_NIST_EDWARDS25519): pure Ed25519 over a RAW message, and Ed25519ph over a SHA-512 DIGEST.
  'ED25519_SHA_512',
  'ED25519_PH_SHA_512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
export type MacAlgorithm = (typeof MAC_ALGORITHMS)[number];

/** DeriveSharedSecret's algorithms: ECDH (the cofactor Diffie-Hellman primitive) only. */
export const KEY_AGREEMENT_ALGORITHMS = ['ECDH'] as const;
export type KeyAgreementAlgorithm = (typeof KEY_AGREEMENT_ALGORITHMS)[number];

export const MESSAGE_TYPES = ['RAW', 'DIGEST'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const DATA_KEY_SPECS = ['AES_256', 'AES_128'] as const;
export type DataKeySpec = (typeof DATA_KEY_SPECS)[number];

export const DATA_KEY_PAIR_SPECS = [
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'ECC_NIST_EDWARDS25519',
] as const;
export type DataKeyPairSpec = (typeof DATA_KEY_PAIR_SPECS)[number];

export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number];

export const WRAPPING_ALGORITHMS = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const EXPIRATION_MODELS = ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'] as const;
export type ExpirationModel = (typeof EXPIRATION_MODELS)[number];

export type RotationType = 'AUTOMATIC' | 'ON_DEMAND';

/** Customer master key metadata as the metadata store holds it. */
export interface KeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  description: string;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  origin: Origin;
  keyState: KeyState;
  creationDate: Date;
  /** Set while PendingDeletion: when the material is destroyed. */
  deletionDate?: Date | undefined;
  pendingDeletionWindowInDays?: number | undefined;
  /** Imported material only. */
  expirationModel?: ExpirationModel | undefined;
  validTo?: Date | undefined;
  /** The key policy document (JSON text). AWS keeps exactly one, named `default`. */
  policy: string;
  rotationEnabled: boolean;
  rotationPeriodInDays?: number | undefined;
  nextRotationDate?: Date | undefined;
  /**
   * The KeyMaterialVersion used to encrypt/sign now. Absent only until a key's first import;
   * an imported key whose material was deleted or expired keeps it to recognise the material.
   */
  currentVersionId?: string | undefined;
  /**
   * The principal that created the key (CloudHSM's key owner): a CryptoUser may do everything
   * with the keys it owns. Cleared when that principal is deleted.
   */
  ownerArn?: string | undefined;
  /** Incremented by every update; stores use it for optimistic concurrency. */
  revision: number;
}

/**
 * One generation of a key's material. Rotation adds versions; old versions keep decrypting.
 * `wrappedMaterial` is opaque to the core: the backend's own blob (the material wrapped under
 * a key that never leaves the HSM).
 */
export interface KeyMaterialVersion {
  keyId: string;
  /** 64 hex characters, as AWS's KeyMaterialId. */
  versionId: string;
  createdAt: Date;
  wrappedMaterial: Uint8Array;
  /** SubjectPublicKeyInfo (DER) for asymmetric keys. */
  publicKey?: Uint8Array | undefined;
  rotationType?: RotationType | undefined;
}

/**
 * Key material that is a token object of its own (EdDSA keys), to be destroyed once no key
 * references it (core/material-destruction.ts). Only while no key `keyId` exists is it destroyed.
 */
export interface MaterialDestruction {
  keyId: string;
  versionId: string;
  keySpec: KeySpec;
  /** The version's wrappedMaterial: for a token object, the reference that finds it. */
  wrappedMaterial: Uint8Array;
  createdAt: Date;
  /** Not tried before this time (a key being created; the backoff after a failed attempt). */
  notBefore: Date;
  /** Attempts begun so far; each is claimed by raising it (two nodes never begin the same one). */
  attempts: number;
}

/**
 * What the service records about one imported key material of an EXTERNAL key, beyond the
 * material itself (a KeyMaterialVersion, present only while the material is imported): AWS's
 * RotationsListEntry fields. The row outlives DeleteImportedKeyMaterial and expiry, so the key
 * knows which materials are permanently associated with it (ImportState PENDING_IMPORT).
 */
export interface ImportedKeyMaterial {
  keyId: string;
  versionId: string;
  /** AWS's KeyMaterialDescription (0–256 characters). */
  description?: string | undefined;
  /** Of the latest import of this material; absent while it is not imported. */
  expirationModel?: ExpirationModel | undefined;
  validTo?: Date | undefined;
  /**
   * Imported with ImportType NEW_KEY_MATERIAL and not yet made current by RotateKeyOnDemand:
   * not permanently associated with the key (AWS's KeyMaterialState PENDING_ROTATION).
   */
  pendingRotation: boolean;
  /** When the material was first imported (orders the list). */
  importedAt: Date;
  /** When RotateKeyOnDemand made it current (absent for the first material and pending ones). */
  rotatedAt?: Date | undefined;
  rotationType?: RotationType | undefined;
}

export interface AliasRecord {
  /** Starts with `alias/`. */
  aliasName: string;
  aliasArn: string;
  targetKeyId: string;
  creationDate: Date;
  lastUpdatedDate: Date;
}

export interface Tag {
  TagKey: string;
  TagValue: string;
}

/** Roles a principal may hold (CloudHSM style). The account root holds every role. */
/** The CloudHSM-style roles a principal may hold (what each allows: authorization/role-table.ts). */
export const PRINCIPAL_ROLES = ['CryptoOfficer', 'CryptoUser', 'Auditor', 'RegionPeer'] as const;
export type PrincipalRole = (typeof PRINCIPAL_ROLES)[number];

export interface PrincipalRecord {
  /** `arn:aws:iam::<account>:user/<name>` or `arn:aws:iam::<account>:root`. */
  arn: string;
  name: string;
  accountId: string;
  roles: PrincipalRole[];
  createdAt: Date;
  /** A user's unique id (`AIDA…`, `aws:userid`); absent for the account root, whose id is the account id. */
  userId?: string | undefined;
}

export interface AccessKeyRecord {
  accessKeyId: string;
  principalArn: string;
  /** The secret access key sealed by the backend (never stored in plaintext). */
  sealedSecret: Uint8Array;
  createdAt: Date;
  status: 'Active' | 'Inactive';
}

export interface ImportTokenRecord {
  /** Random id carried inside the opaque ImportToken. */
  tokenId: string;
  keyId: string;
  wrappingKeySpec: WrappingKeySpec;
  wrappingAlgorithm: WrappingAlgorithm;
  /** The wrapping private key, wrapped by the backend. */
  wrappedPrivateKey: Uint8Array;
  publicKey: Uint8Array;
  createdAt: Date;
  expiresAt: Date;
}

/** Key usage each key spec allows. */
export function usagesFor(spec: KeySpec): readonly KeyUsage[] {
  if (spec === 'SYMMETRIC_DEFAULT') return ['ENCRYPT_DECRYPT'];
  if (spec.startsWith('HMAC_')) return ['GENERATE_VERIFY_MAC'];
  if (spec.startsWith('RSA_')) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'];
  // EdDSA keys sign and verify only (AWS: "ECC_NIST_EDWARDS25519 (ed25519) - signing and verification only").
  if (spec === 'ECC_NIST_EDWARDS25519') return ['SIGN_VERIFY'];
  // ECDH needs a NIST curve: AWS offers KEY_AGREEMENT for the NIST (and China-only SM2) specs, never secp256k1.
  if (spec.startsWith('ECC_NIST_')) return ['SIGN_VERIFY', 'KEY_AGREEMENT'];
  return ['SIGN_VERIFY'];
}
