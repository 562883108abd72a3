/**
 * KeyMaterialIds for imported material that prove which material they belong to, so a reimport
 * can be checked against the material the key had before without keeping that material (or a
 * plaintext digest of it) anywhere. AWS likewise derives the id from the key id and the material.
 *
 * An id is 32 bytes (64 hex characters, like any KeyMaterialId): the marker `kc` and version
 * `0x01`, then a 29-byte key check value computed in the HSM over a fixed, key-specific message:
 * - AES: IV (12), ciphertext (1) and tag (16) of AES-GCM encrypting one zero byte, with the
 *   message as AAD (one byte rather than none: not every token accepts an empty C_Encrypt). The
 *   HSM picks the IV, so the id is not deterministic, but only the same material can
 *   authenticate that ciphertext again: the check decrypts it with the new material.
 * - HMAC: the first 29 bytes of SHA-256 of the key's HMAC of the message.
 * - Asymmetric: the first 29 bytes of SHA-256(message ‖ SubjectPublicKeyInfo).
 *
 * Because the blob header carries the KeyMaterialId, a reimport must reuse the old id for old
 * ciphertexts to decrypt; this scheme makes that id verifiable.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BackendError } from '../errors.js';
import { macAlgorithmsFor } from '../key-metadata.js';
import type { KeyRecord } from '../model.js';
import type { KeyBackend, MaterialRef } from '../ports.js';

const MARKER = Buffer.from([0x6b, 0x63, 0x01]); // 'kc', version 1
const CHECK_BYTES = 29;
const IV_BYTES = 12;

/** Fresh material to identify: the backend's ref and, for asymmetric keys, the public key. */
export interface ImportedMaterial {
  ref: MaterialRef;
  publicKey?: Uint8Array | undefined;
}

function checkMessage(key: KeyRecord): Buffer {
  return Buffer.from(`hsmkms imported key material check v1\0${key.keyId}`, 'utf8');
}

/** A new KeyMaterialId for material imported into `key`. */
export async function importedMaterialId(backend: KeyBackend, key: KeyRecord, material: ImportedMaterial): Promise<string> {
  if (key.keySpec === 'SYMMETRIC_DEFAULT') {
    const { iv, ciphertext } = await backend.encryptSymmetric(material.ref, new Uint8Array(1), checkMessage(key));
    if (iv.length + ciphertext.length !== CHECK_BYTES) throw new Error('unexpected AES-GCM output size for the key check');
    return Buffer.concat([MARKER, iv, ciphertext]).toString('hex');
  }
  return Buffer.concat([MARKER, await deterministicCheck(backend, key, material)]).toString('hex');
}

/** Whether `material` is the material `versionId` was derived from. */
export async function matchesImportedMaterialId(
  backend: KeyBackend,
  key: KeyRecord,
  material: ImportedMaterial,
  versionId: string,
): Promise<boolean> {
  const id = Buffer.from(versionId, 'hex');
  if (id.length !== MARKER.length + CHECK_BYTES || !id.subarray(0, MARKER.length).equals(MARKER)) return false;
  const check = id.subarray(MARKER.length);
  if (key.keySpec === 'SYMMETRIC_DEFAULT') {
    try {
      await backend.decryptSymmetric(material.ref, check.subarray(0, IV_BYTES), check.subarray(IV_BYTES), checkMessage(key));
      return true;
    } catch (err) {
      if (err instanceof BackendError && err.kind === 'data') return false;
      throw err;
    }
  }
  return timingSafeEqual(check, await deterministicCheck(backend, key, material));
}

async function deterministicCheck(backend: KeyBackend, key: KeyRecord, material: ImportedMaterial): Promise<Buffer> {
  if (key.keySpec.startsWith('HMAC_')) {
    const [macAlgorithm] = macAlgorithmsFor({ keySpec: key.keySpec, keyUsage: 'GENERATE_VERIFY_MAC' }) ?? [];
    if (!macAlgorithm) throw new Error(`no MAC algorithm for ${key.keySpec}`);
    // Hashed so every HMAC size (HMAC_224 gives only 28 bytes) fills the check the same way.
    const mac = await backend.generateMac(material.ref, macAlgorithm, checkMessage(key));
    return createHash('sha256').update(mac).digest().subarray(0, CHECK_BYTES);
  }
  if (!material.publicKey) throw new Error('imported asymmetric material has no public key');
  return createHash('sha256').update(checkMessage(key)).update(material.publicKey).digest().subarray(0, CHECK_BYTES);
}
