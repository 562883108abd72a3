/**
 * Steps the cryptographic operations share: the common request members (GrantTokens, DryRun,
 * Recipient), finding usable key material, and symmetric/asymmetric encryption and decryption
 * of the KMS ciphertext formats. Each operation file still reads top to bottom as
 * validate → resolve → authorise → act → respond; these are the "act" halves.
 */
import {
  ciphertextAad,
  ciphertextHeader,
  parseCiphertextBlob,
  requireBlobKeySpec,
  writeCiphertextBlob,
  type CiphertextBlob,
} from '../ciphertext-blob.js';
import type { EncryptionContext } from '../encryption-context.js';
import { BackendError, KmsError } from '../errors.js';
import { macAlgorithmsFor, materialId, signingAlgorithmsFor } from '../key-metadata.js';
import { requireEnabled, requireUsage, resolveKey } from '../key-resolver.js';
import type { EncryptionAlgorithm, KeyRecord, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { MaterialRef } from '../ports.js';
import { decryptInKeyStore, encryptInKeyStore, type KeyStoreCaller } from '../key-stores/keys.js';
import { isCustomKeyStoreOrigin } from '../key-stores/model.js';
import { constraintError, GRANT_TOKENS_RULE, optionalBlob, optionalBoolean, optionalStringList, requiredBlob } from '../validation.js';

/** `GrantTokens`: accepted and checked for shape (at most 10, each 1–8192 characters). */
export function parseGrantTokens(input: JsonObject): string[] {
  return optionalStringList(input, 'GrantTokens', GRANT_TOKENS_RULE) ?? [];
}

/** `DryRun`: true asks for every check and no action. */
export function parseDryRun(input: JsonObject): boolean {
  return optionalBoolean(input, 'DryRun') === true;
}

/** `DryRunModifiers` (Decrypt, ReEncrypt): the modifiers AWS defines. */
const DRY_RUN_MODIFIERS: readonly string[] = ['IGNORE_CIPHERTEXT'];

/**
 * Whether a DryRun asks to leave the ciphertext out (`DryRunModifiers: ["IGNORE_CIPHERTEXT"]`,
 * Decrypt and ReEncrypt): the ciphertext is then optional and ignored, and the key named in the
 * request is checked and authorised instead (see {@link resolveDryRunSource}). Without DryRun
 * the modifiers change nothing.
 */
function parseIgnoreCiphertext(input: JsonObject, dryRun: boolean): boolean {
  const modifiers = optionalStringList(input, 'DryRunModifiers', { max: 10 }) ?? [];
  for (const modifier of modifiers)
    if (!DRY_RUN_MODIFIERS.includes(modifier))
      throw constraintError('DryRunModifiers', modifier, `Member must satisfy enum value set: [${DRY_RUN_MODIFIERS.join(', ')}]`);
  return dryRun && modifiers.includes('IGNORE_CIPHERTEXT');
}

/**
 * `CiphertextBlob` (Decrypt, ReEncrypt): required, except in a DryRun that ignores it, where one
 * sent is still checked for shape and then left out (undefined: see {@link resolveDryRunSource}).
 */
export function parseCiphertextInput(input: JsonObject, dryRun: boolean): Buffer | undefined {
  const rule = { min: 1, max: 6144 };
  if (!parseIgnoreCiphertext(input, dryRun)) return requiredBlob(input, 'CiphertextBlob', rule);
  optionalBlob(input, 'CiphertextBlob', rule);
  return undefined;
}

/**
 * The decrypting side of a DryRun that ignores the ciphertext: the key `field` names (required
 * then, as AWS documents), in the state, usage and algorithm the real call would need.
 */
export async function resolveDryRunSource(
  deps: KmsDeps,
  keyIdValue: string | undefined,
  field: string,
  algorithm: EncryptionAlgorithm,
  context: EncryptionContext,
  operation: string,
): Promise<DecryptTarget> {
  if (keyIdValue === undefined) throw constraintError(field, null, 'Member must not be null when DryRunModifiers contains IGNORE_CIPHERTEXT');
  const key = await resolveUsableKey(deps, keyIdValue, 'ENCRYPT_DECRYPT', operation);
  requireEncryptionAlgorithm(key, algorithm);
  requireNoContextForAsymmetric(key, context);
  return { key, algorithm, ciphertext: Buffer.alloc(0) };
}

/** The error AWS returns when a DryRun request passed every check. */
export function dryRunSucceeded(): KmsError {
  return new KmsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.');
}

/** `Recipient` (Nitro Enclaves attestation) has no meaning outside AWS. */
export function rejectRecipient(input: JsonObject): void {
  if (input.Recipient !== undefined && input.Recipient !== null)
    throw new KmsError('UnsupportedOperationException', 'Recipient attestation documents are not supported by this service.');
}

/** Resolves a KeyId member to an Enabled key with the usage an operation needs. */
export async function resolveUsableKey(deps: KmsDeps, keyIdValue: string, usage: KeyUsage, operation: string): Promise<KeyRecord> {
  const key = await resolveKey(deps.store, deps.settings, keyIdValue);
  requireEnabled(key);
  requireUsage(key, usage, operation);
  return key;
}

/** Key material of one version, ready for the backend. */
export type Material = MaterialRef & { versionId: string; publicKey?: Uint8Array | undefined };

/**
 * Loads a key version (the current one by default). A version the store does not have is the
 * caller's problem when it came from a ciphertext (InvalidCiphertextException) and ours when it
 * is the key's current version (KMSInternalException).
 */
export async function loadMaterial(deps: KmsDeps, key: KeyRecord, versionId?: string): Promise<Material> {
  const wanted = versionId ?? key.currentVersionId;
  const version = wanted === undefined ? undefined : await deps.store.getKeyVersion(key.keyId, wanted);
  if (!version) {
    if (versionId !== undefined) throw new KmsError('InvalidCiphertextException', 'The key material version that encrypted this ciphertext is not available.');
    throw new KmsError('KMSInternalException', `${key.arn} has no current key material.`);
  }
  return {
    id: materialId(key.keyId, version.versionId),
    keySpec: key.keySpec,
    wrapped: version.wrappedMaterial,
    versionId: version.versionId,
    publicKey: version.publicKey,
  };
}

/** The public key of asymmetric material, or an internal error if the store lost it. */
export function requirePublicKey(key: KeyRecord, material: Material): MaterialRef & { publicKey: Uint8Array } {
  if (!material.publicKey) throw new KmsError('KMSInternalException', `${key.arn} has no stored public key.`);
  return { ...material, publicKey: material.publicKey };
}

export function isSymmetricEncryptionKey(key: KeyRecord): boolean {
  return key.keySpec === 'SYMMETRIC_DEFAULT';
}

/** The algorithms a key encrypts with; anything else is InvalidKeyUsageException, as AWS does. */
export function requireEncryptionAlgorithm(key: KeyRecord, algorithm: EncryptionAlgorithm): void {
  const symmetric = isSymmetricEncryptionKey(key);
  if (symmetric !== (algorithm === 'SYMMETRIC_DEFAULT'))
    throw new KmsError('InvalidKeyUsageException', `Encryption algorithm ${algorithm} is not compatible with ${key.arn} (${key.keySpec}).`);
}

/** AWS accepts an encryption context only with symmetric keys. */
export function requireNoContextForAsymmetric(key: KeyRecord, context: EncryptionContext): void {
  if (!isSymmetricEncryptionKey(key) && Object.keys(context).length > 0)
    throw new KmsError('ValidationException', 'EncryptionContext is not supported with asymmetric KMS keys.');
}

const MODULUS_BYTES: Partial<Record<KeyRecord['keySpec'], number>> = { RSA_2048: 256, RSA_3072: 384, RSA_4096: 512 };
const OAEP_HASH_BYTES: Partial<Record<EncryptionAlgorithm, number>> = { RSAES_OAEP_SHA_1: 20, RSAES_OAEP_SHA_256: 32 };

/** The most plaintext RSAES-OAEP takes for this key size and hash: k − 2·hLen − 2. */
export function maxOaepPlaintext(keySpec: KeyRecord['keySpec'], algorithm: EncryptionAlgorithm): number {
  const k = MODULUS_BYTES[keySpec];
  const h = OAEP_HASH_BYTES[algorithm];
  if (k === undefined || h === undefined) return 0;
  return k - 2 * h - 2;
}

/** RSAES-OAEP takes at most {@link maxOaepPlaintext} bytes; more is a ValidationException. */
export function requireOaepPlaintextFits(key: KeyRecord, algorithm: EncryptionAlgorithm, length: number): void {
  if (algorithm === 'SYMMETRIC_DEFAULT') return;
  const limit = maxOaepPlaintext(key.keySpec, algorithm);
  if (length > limit)
    // AWS KMS's words (recorded Encrypt answers, LocalStack's test_encrypt_validate_plaintext_size_per_key_type).
    throw new KmsError('ValidationException', `Algorithm ${algorithm} and key spec ${key.keySpec} cannot encrypt data larger than ${limit} bytes.`);
}

/** Result of encrypting under a KMS key. */
export interface Encrypted {
  ciphertextBlob: Buffer;
  /** The key material version used (symmetric keys only). */
  keyMaterialId?: string;
}

/**
 * Encrypts under an already authorised key: AES-GCM into a CiphertextBlob for symmetric keys,
 * raw RSAES-OAEP for RSA keys. `caller` tells an external key store's proxy who asked.
 */
export async function encryptUnder(
  deps: KmsDeps,
  key: KeyRecord,
  algorithm: EncryptionAlgorithm,
  plaintext: Uint8Array,
  context: EncryptionContext,
  caller?: KeyStoreCaller,
): Promise<Encrypted> {
  const material = await loadMaterial(deps, key);
  if (algorithm === 'SYMMETRIC_DEFAULT') {
    const header = ciphertextHeader({ keyId: key.keyId, versionId: material.versionId });
    const aad = ciphertextAad(header, context);
    const { iv, ciphertext } = isCustomKeyStoreOrigin(key.origin)
      ? await encryptInKeyStore(deps, key, material, plaintext, aad, caller)
      : await deps.backend.encryptSymmetric(material, plaintext, aad);
    return { ciphertextBlob: writeCiphertextBlob(header, iv, ciphertext), keyMaterialId: material.versionId };
  }
  requireOaepPlaintextFits(key, algorithm, plaintext.length);
  return { ciphertextBlob: await deps.backend.encryptAsymmetric(requirePublicKey(key, material), algorithm, plaintext) };
}

/** A ciphertext matched to the key that can decrypt it. */
export interface DecryptTarget {
  key: KeyRecord;
  algorithm: EncryptionAlgorithm;
  /** Present for symmetric ciphertexts. */
  blob?: CiphertextBlob;
  ciphertext: Buffer;
}

/**
 * Finds the key for a ciphertext and checks state, usage and algorithm (everything before
 * authorisation). Symmetric blobs name their key; a KeyId that names another key is
 * IncorrectKeyException. Asymmetric ciphertexts need the KeyId.
 */
export async function resolveDecryptTarget(
  deps: KmsDeps,
  ciphertext: Buffer,
  keyIdValue: string | undefined,
  algorithm: EncryptionAlgorithm,
  context: EncryptionContext,
  operation: string,
): Promise<DecryptTarget> {
  const named = keyIdValue === undefined ? undefined : await resolveKey(deps.store, deps.settings, keyIdValue);
  if (named && !isSymmetricEncryptionKey(named)) {
    // A symmetric ciphertext names its key: a KeyId naming another (an HMAC, signing or RSA key,
    // with the default algorithm) is IncorrectKeyException, as AWS KMS answers, before its usage.
    if (algorithm === 'SYMMETRIC_DEFAULT' && blobNamesAnotherKey(ciphertext, named)) throw incorrectKey(named);
    requireEnabled(named);
    requireUsage(named, 'ENCRYPT_DECRYPT', operation);
    requireEncryptionAlgorithm(named, algorithm);
    requireNoContextForAsymmetric(named, context);
    return { key: named, algorithm, ciphertext };
  }
  if (algorithm !== 'SYMMETRIC_DEFAULT') {
    if (!named) throw new KmsError('ValidationException', `KeyId is required to decrypt with ${algorithm}.`);
    requireEncryptionAlgorithm(named, algorithm);
  }
  const blob = parseCiphertextBlob(ciphertext);
  if (named && named.keyId !== blob.keyId) throw incorrectKey(named);
  const key = named ?? (await resolveKey(deps.store, deps.settings, blob.keyId));
  requireEnabled(key);
  // Usage before the blob's shape: a key that cannot decrypt at all is InvalidKeyUsageException
  // whether the caller named it or a blob did (as on the named path above).
  requireUsage(key, 'ENCRYPT_DECRYPT', operation);
  requireBlobKeySpec(key.keySpec);
  return { key, algorithm, blob, ciphertext };
}

/** Whether `ciphertext` is a symmetric blob naming a key other than `named` (false when it is no blob at all). */
function blobNamesAnotherKey(ciphertext: Buffer, named: KeyRecord): boolean {
  try {
    return parseCiphertextBlob(ciphertext).keyId !== named.keyId;
  } catch {
    return false;
  }
}

function incorrectKey(named: KeyRecord): KmsError {
  return new KmsError('IncorrectKeyException', `The key ID in the request does not identify the KMS key that encrypted the ciphertext (${named.arn}).`);
}

/** Decrypts a resolved (and authorised) ciphertext. A failed tag or padding check → InvalidCiphertextException. */
export async function decryptTarget(deps: KmsDeps, target: DecryptTarget, context: EncryptionContext, caller?: KeyStoreCaller): Promise<Buffer> {
  try {
    if (target.blob) {
      const material = await loadMaterial(deps, target.key, target.blob.versionId);
      const aad = ciphertextAad(target.blob.header, context);
      if (isCustomKeyStoreOrigin(target.key.origin)) return await decryptInKeyStore(deps, target.key, material, target.blob.iv, target.blob.ciphertext, aad, caller);
      return await deps.backend.decryptSymmetric(material, target.blob.iv, target.blob.ciphertext, aad);
    }
    const material = await loadMaterial(deps, target.key);
    return await deps.backend.decryptAsymmetric(material, target.algorithm, target.ciphertext);
  } catch (err) {
    if (err instanceof BackendError && err.kind === 'data') throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid, was altered, or the encryption context does not match.');
    throw err;
  }
}

/** The signing algorithm must be one the key offers; AWS answers InvalidKeyUsageException otherwise. */
export function requireSigningAlgorithm(key: KeyRecord, algorithm: SigningAlgorithm): void {
  if (!(signingAlgorithmsFor(key) ?? []).includes(algorithm))
    throw new KmsError('InvalidKeyUsageException', `Signing algorithm ${algorithm} is not compatible with ${key.arn} (${key.keySpec}).`);
}

/**
 * The message type an EdDSA algorithm requires: AWS "ED25519_SHA_512 signing algorithm requires
 * KMS MessageType:RAW", "ED25519_PH_SHA_512 ... requires KMS MessageType:DIGEST"; "these message
 * types cannot be used interchangeably". Every other algorithm takes either.
 */
const REQUIRED_MESSAGE_TYPE: Readonly<Partial<Record<SigningAlgorithm, MessageType>>> = {
  ED25519_SHA_512: 'RAW',
  ED25519_PH_SHA_512: 'DIGEST',
};

/** The other message type for an EdDSA algorithm is a ValidationException, before the key is looked up. */
export function requireMessageType(algorithm: SigningAlgorithm, messageType: MessageType): void {
  const required = REQUIRED_MESSAGE_TYPE[algorithm];
  if (required !== undefined && messageType !== required)
    // AWS KMS's words begin "Message type RAW is incompatible" (measured answers to ED25519_PH_SHA_512 with RAW).
    throw new KmsError('ValidationException', `Message type ${messageType} is incompatible with signing algorithm ${algorithm}; it requires MessageType ${required}.`);
}

/**
 * Whether the key store can use `algorithm` at all (a token without Ed25519ph cannot sign or
 * verify ED25519_PH_SHA_512): UnsupportedOperationException naming the limitation otherwise.
 */
export async function requireAlgorithmInKeyStore(deps: KmsDeps, algorithm: SigningAlgorithm): Promise<void> {
  const missing = await deps.backend.signingAlgorithmUnavailable(algorithm);
  if (missing !== undefined) throw new KmsError('UnsupportedOperationException', missing);
}

/**
 * A backend failure of kind `missing` (the key's material, a token object of its own, was deleted
 * or changed outside hsmkms) as the KMSInvalidStateException a custom key store's key answers in
 * that case (key-stores/keys.ts), naming the key; anything else as it is.
 */
export function materialMissing(key: KeyRecord, error: unknown): unknown {
  if (!(error instanceof BackendError && error.kind === 'missing')) return error;
  return new KmsError('KMSInvalidStateException', `The key material of ${key.arn} is not in its HSM: its token object was deleted or changed outside hsmkms, so the key cannot be used.`, { cause: error });
}

/** For MessageType DIGEST the message must be exactly one digest of the algorithm's hash. */
export function requireDigestLength(algorithm: SigningAlgorithm, message: Uint8Array, messageType: MessageType): void {
  if (messageType !== 'DIGEST') return;
  const bits = Number(algorithm.slice(algorithm.lastIndexOf('_') + 1));
  if (message.length !== bits / 8)
    throw new KmsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`); // AWS KMS's words (recorded Sign answers)
}

/** The MAC algorithm must be the one the HMAC key's size fixes. */
export function requireMacAlgorithm(key: KeyRecord, algorithm: MacAlgorithm): void {
  if (!(macAlgorithmsFor(key) ?? []).includes(algorithm))
    throw new KmsError('InvalidKeyUsageException', `Algorithm ${algorithm} is incompatible with key spec ${key.keySpec}.`); // AWS KMS's words (recorded GenerateMac/VerifyMac answers)
}
