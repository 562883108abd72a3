/**
 * EME-OAEP decoding (RFC 8017 §7.1.2) for tokens whose C_Decrypt/C_UnwrapKey support OAEP only
 * with SHA-1 (SoftHSM2 2.6). The token does the RSA private-key operation (CKM_RSA_X_509); only
 * the padding is removed here. Every failure is the same error, raised after the whole encoded
 * message has been examined, so the outcome does not leak which check failed (Manger's attack).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { hsmError } from './errors.js';

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  for (let i = 0, done = 0; done < length; i++) {
    counter.writeUInt32BE(i);
    const block = createHash(hash).update(seed).update(counter).digest();
    done += block.copy(out, done);
  }
  return out;
}

/**
 * Removes OAEP padding (empty label) from `em`, the raw RSA output left-padded to the modulus
 * length `k`. Throws HsmError kind `data` (CKR_ENCRYPTED_DATA_INVALID) on any defect.
 */
export function oaepDecode(hash: 'sha1' | 'sha256', raw: Buffer, k: number): Buffer {
  const invalid = () => hsmError('CKR_ENCRYPTED_DATA_INVALID', 'C_Decrypt', 'data', 'The ciphertext is not valid RSAES-OAEP for this key.');
  if (raw.length > k) throw invalid();
  const em = Buffer.concat([Buffer.alloc(k - raw.length), raw]);
  const hLen = hash === 'sha1' ? 20 : 32;
  if (k < 2 * hLen + 2) throw invalid();
  const lHash = createHash(hash).digest();
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seedMask = mgf1(hash, maskedDb, hLen);
  const seed = Buffer.alloc(hLen);
  for (let i = 0; i < hLen; i++) seed[i] = maskedSeed[i]! ^ seedMask[i]!;
  const dbMask = mgf1(hash, seed, k - hLen - 1);
  const db = Buffer.alloc(k - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i]! ^ dbMask[i]!;
  let bad = em[0]! !== 0 ? 1 : 0;
  bad |= timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1;
  // Find the 0x01 separator after the zero padding without stopping early.
  let index = 0;
  let looking = 1;
  for (let i = hLen; i < db.length; i++) {
    const b = db[i]!;
    const isOne = b === 1 ? 1 : 0;
    const isZero = b === 0 ? 1 : 0;
    index += looking & isOne ? i : 0;
    bad |= looking & (isOne | isZero ? 0 : 1);
    looking &= isOne ? 0 : 1;
  }
  bad |= looking;
  seed.fill(0);
  if (bad) {
    db.fill(0);
    throw invalid();
  }
  const message = Buffer.from(db.subarray(index + 1));
  db.fill(0);
  return message;
}
