/**
 * The symmetric CiphertextBlob: the one module that writes and parses it.
 *
 * Version 1, all integers big-endian:
 *
 * | bytes | field                                               |
 * |-------|-----------------------------------------------------|
 * | 1     | format version, `0x01`                              |
 * | 1     | key id length L (1–255)                             |
 * | L     | key id, ASCII letters, digits, `-` and `_`          |
 * | 32    | key material version id (the 64 hex chars, binary)  |
 * | 12    | AES-GCM IV                                          |
 * | ≥ 16  | ciphertext followed by the 16-byte GCM tag          |
 *
 * The header (everything before the IV) followed by the canonical encryption context is the
 * GCM additional authenticated data, so changing any header byte or the context makes the tag
 * check fail. The IV is authenticated by GCM itself; it is not in the AAD because some HSMs
 * choose it during the encryption that needs the AAD.
 *
 * Asymmetric (RSAES-OAEP) ciphertexts are not wrapped in this format: KMS returns the raw
 * RSA output, and so do we.
 */
import { canonicalEncryptionContext, type EncryptionContext } from './encryption-context.js';
import { KmsError } from './errors.js';
import { KEY_MATERIAL_ID_RULE } from './validation.js';

export const CIPHERTEXT_BLOB_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const VERSION_ID_BYTES = 32;
/** Key ids are UUIDs; the narrow alphabet keeps a forged id from being read as an alias or ARN. */
const KEY_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** Which key material version encrypted a blob. */
export interface CiphertextKeyRef {
  keyId: string;
  /** 64 lowercase hex characters. */
  versionId: string;
}

/** A parsed blob. `header` is the exact byte prefix that goes into the AAD. */
export interface CiphertextBlob extends CiphertextKeyRef {
  header: Buffer;
  iv: Buffer;
  /** Ciphertext followed by the GCM tag. */
  ciphertext: Buffer;
}

/** The smallest well-formed blob: a one-byte key id and an empty plaintext. */
export const MIN_CIPHERTEXT_BLOB_LENGTH = 1 + 1 + 1 + VERSION_ID_BYTES + IV_LENGTH + TAG_LENGTH;

/** The header bytes for a key version; also the first part of the AAD. */
export function ciphertextHeader(ref: CiphertextKeyRef): Buffer {
  if (!KEY_ID.test(ref.keyId)) throw new RangeError('key id must be 1–255 ASCII letters, digits, - or _');
  const keyId = Buffer.from(ref.keyId, 'ascii');
  if (!KEY_MATERIAL_ID_RULE.pattern.test(ref.versionId)) throw new RangeError('key material version id must be 64 lowercase hex characters');
  return Buffer.concat([Buffer.from([CIPHERTEXT_BLOB_VERSION, keyId.length]), keyId, Buffer.from(ref.versionId, 'hex')]);
}

/** The GCM additional authenticated data: header, then the canonical encryption context. */
export function ciphertextAad(header: Uint8Array, context: EncryptionContext): Buffer {
  return Buffer.concat([header, canonicalEncryptionContext(context)]);
}

/** Assembles the blob from the header and what the backend's AES-GCM returned. */
export function writeCiphertextBlob(header: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (iv.length !== IV_LENGTH) throw new RangeError(`GCM IV must be ${IV_LENGTH} bytes`);
  if (ciphertext.length < TAG_LENGTH) throw new RangeError('ciphertext is shorter than a GCM tag');
  return Buffer.concat([header, iv, ciphertext]);
}

/**
 * Parses a blob. Anything malformed — unknown version, truncated, a key id or version id that
 * cannot be one — is InvalidCiphertextException, exactly as a failed tag check is, so a caller
 * learns nothing about which part was wrong.
 */
export function parseCiphertextBlob(bytes: Uint8Array): CiphertextBlob {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MIN_CIPHERTEXT_BLOB_LENGTH || buf[0] !== CIPHERTEXT_BLOB_VERSION) throw invalid();
  const keyIdLength = buf[1] ?? 0;
  const headerLength = 2 + keyIdLength + VERSION_ID_BYTES;
  if (keyIdLength === 0 || buf.length < headerLength + IV_LENGTH + TAG_LENGTH) throw invalid();
  const keyId = buf.toString('latin1', 2, 2 + keyIdLength);
  if (!KEY_ID.test(keyId)) throw invalid();
  return {
    keyId,
    versionId: buf.subarray(2 + keyIdLength, headerLength).toString('hex'),
    header: Buffer.from(buf.subarray(0, headerLength)),
    iv: Buffer.from(buf.subarray(headerLength, headerLength + IV_LENGTH)),
    ciphertext: Buffer.from(buf.subarray(headerLength + IV_LENGTH)),
  };
}

/**
 * A version-1 blob holds AES-256-GCM output, which only a SYMMETRIC_DEFAULT key can have
 * made. A blob naming any other key is forged: InvalidCiphertextException, before the HSM is
 * asked to use, say, an RSA key for AES-GCM.
 */
export function requireBlobKeySpec(keySpec: string): void {
  if (keySpec !== 'SYMMETRIC_DEFAULT') throw invalid();
}

function invalid(): KmsError {
  return new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced by this service.');
}
