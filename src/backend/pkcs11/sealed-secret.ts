/**
 * Sealed service secrets (e.g. SigV4 secret access keys): AES-256-GCM under the token's seal key.
 *
 * Layout (version 1):
 * ```
 * 0          version      0x01
 * 1          id length n  1..64
 * 2..2+n     seal key id  CKA_ID of the seal key
 * 2+n..14+n  IV           12 bytes
 * 14+n..     ciphertext ‖ 16-byte tag
 * ```
 * The header (everything before the IV) is the GCM AAD, so it cannot be swapped undetected.
 */
import { hsmError } from './errors.js';

export const SEALED_SECRET_VERSION = 1;

export interface SealedSecret {
  sealKeyId: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
}

/** The authenticated header for a seal key id. */
export function sealedHeader(sealKeyId: Buffer): Buffer {
  return Buffer.concat([Buffer.from([SEALED_SECRET_VERSION, sealKeyId.length]), sealKeyId]);
}

export function writeSealedSecret(s: SealedSecret): Buffer {
  if (s.iv.length !== 12) throw new TypeError('IV must be 12 bytes');
  return Buffer.concat([sealedHeader(s.sealKeyId), s.iv, s.ciphertext]);
}

/** Parses a sealed secret; malformed input is an HsmError of kind `data`. */
export function parseSealedSecret(bytes: Uint8Array): SealedSecret & { header: Buffer } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string) => hsmError('CKR_ENCRYPTED_DATA_INVALID', 'parseSealedSecret', 'data', `Malformed sealed secret: ${why}.`);
  if (b.length < 2) throw fail('too short');
  if (b[0] !== SEALED_SECRET_VERSION) throw fail(`unsupported version ${b[0]}`);
  const n = b[1]!;
  if (n < 1 || n > 64) throw fail('bad seal key id length');
  if (b.length < 2 + n + 12 + 16) throw fail('too short');
  return {
    header: Buffer.from(b.subarray(0, 2 + n)),
    sealKeyId: Buffer.from(b.subarray(2, 2 + n)),
    iv: Buffer.from(b.subarray(2 + n, 14 + n)),
    ciphertext: Buffer.from(b.subarray(14 + n)),
  };
}
