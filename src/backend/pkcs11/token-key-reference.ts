/**
 * The reference a token-backed key store keeps for each KMS key (in the key's material version,
 * where the default store keeps a wrapped blob): which token object is the key, by CKA_ID. The
 * object's CKA_LABEL is the KMS key id, so the pair names exactly one object even if someone
 * creates another object with the same label. The default store keeps the same reference for
 * material that is a token object of its own (EdDSA keys, key-specs.ts `tokenObject`), whose
 * CKA_LABEL is `hsmkms-key-material` and whose CKA_ID is random.
 *
 * Layout: `0x01` version ‖ `0x54` ('T', token object) ‖ id length (1–64) ‖ CKA_ID.
 */
import { hsmError } from './errors.js';

const VERSION = 1;
const KIND_TOKEN_OBJECT = 0x54;

export function writeTokenKeyReference(id: Uint8Array): Buffer {
  if (id.length < 1 || id.length > 64) throw new RangeError('A CKA_ID in a token key reference is 1 to 64 bytes.');
  return Buffer.concat([Buffer.from([VERSION, KIND_TOKEN_OBJECT, id.length]), id]);
}

/** Parses a reference; anything else is an HsmError of kind `data`. */
export function parseTokenKeyReference(reference: Uint8Array): { id: Buffer } {
  const bytes = Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength);
  if (bytes.length < 4 || bytes[0] !== VERSION || bytes[1] !== KIND_TOKEN_OBJECT || bytes[2] !== bytes.length - 3 || bytes[2]! > 64)
    throw hsmError('CKR_WRAPPED_KEY_INVALID', 'parseTokenKeyReference', 'data', 'This is not a token key reference of a token-backed key store.');
  return { id: Buffer.from(bytes.subarray(3)) };
}
