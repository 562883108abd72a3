/**
 * The bytes an XKS proxy feeds AES-GCM as additional authenticated data, and the Ciphertext
 * Data Integrity Value, both as the XKS proxy API specification v1.0 defines them:
 *
 *   AAD input = len(additionalAuthenticatedData) as 2 bytes big-endian ‖ additionalAuthenticatedData
 *               ‖ len(ciphertextMetadata) as 1 byte ‖ ciphertextMetadata
 *   CDIV      = SHA-256(additionalAuthenticatedData ‖ ciphertextMetadata ‖ IV ‖ ciphertext ‖ tag)
 *
 * aws-kms-xks-proxy put SHA-256(additionalAuthenticatedData) where the specification has the
 * AAD itself; {@link legacyAadInput} rebuilds that framing so that ciphertexts it made for AWS
 * KMS still decrypt here (its keys are token objects labelled with their id, as here).
 */
import { createHash } from 'node:crypto';

/** Largest AAD the specification requires a proxy to take (and the 2-byte length can hold). */
export const MAX_AAD_BYTES = 8192;
/** Largest ciphertextMetadata the specification allows. */
export const MAX_CIPHERTEXT_METADATA_BYTES = 20;

export function aadInput(aad: Buffer | undefined, ciphertextMetadata: Buffer | undefined): Buffer {
  const a = aad ?? Buffer.alloc(0);
  const m = ciphertextMetadata ?? Buffer.alloc(0);
  if (a.length > 0xffff || m.length > 0xff) throw new RangeError('AAD or ciphertextMetadata too long for the XKS framing.');
  const out = Buffer.alloc(2 + a.length + 1 + m.length);
  out.writeUInt16BE(a.length, 0);
  a.copy(out, 2);
  out.writeUInt8(m.length, 2 + a.length);
  m.copy(out, 3 + a.length);
  return out;
}

/** aws-kms-xks-proxy's framing: the AAD's SHA-256 digest (when an AAD was given) instead of the AAD. */
export function legacyAadInput(aad: Buffer | undefined, ciphertextMetadata: Buffer | undefined): Buffer {
  const m = ciphertextMetadata ?? Buffer.alloc(0);
  const digest = aad === undefined ? Buffer.alloc(0) : createHash('sha256').update(aad).digest();
  const length = Buffer.alloc(2);
  length.writeUInt16BE(aad?.length ?? 0, 0);
  return Buffer.concat([length, digest, Buffer.from([m.length]), m]);
}

/** The Ciphertext Data Integrity Value (SHA_256), base64 as it goes on the wire. */
export function ciphertextDataIntegrityValue(parts: {
  aad?: Buffer | undefined;
  ciphertextMetadata?: Buffer | undefined;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}): string {
  const hash = createHash('sha256');
  if (parts.aad) hash.update(parts.aad);
  if (parts.ciphertextMetadata) hash.update(parts.ciphertextMetadata);
  return hash.update(parts.iv).update(parts.ciphertext).update(parts.tag).digest('base64');
}
