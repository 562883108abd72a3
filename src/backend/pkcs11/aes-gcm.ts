/**
 * AES-256-GCM in the token, the one way every key the backend holds is used for it: the default
 * store's CMKs and seal key (pkcs11-backend.ts) and the token keys of custom key stores and the
 * XKS proxy (token-keyring.ts). Whether the token or hsmkms chooses the IV is the profile's
 * `hsmGeneratedGcmIv`; where the call runs is {@link HsmCalls}'s decision.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism } from 'pkcs11js';
import type { SymmetricCiphertext } from '../../core/ports.js';
import { hsmError } from './errors.js';
import type { HsmCalls } from './hsm-calls.js';
import type { HsmProfile } from './profiles.js';

const P = pkcs11js;
const TAG_BYTES = 16;

/** CKM_AES_GCM with a 128-bit tag; the IV's length (12 bytes, or 16 from other XKS proxies) is the caller's. */
export function gcmMechanism(iv: Buffer, aad: Buffer): Mechanism {
  return {
    mechanism: P.CKM_AES_GCM,
    parameter: { type: P.CK_PARAMS_AES_GCM_v240, iv, ivBits: iv.length * 8, aad, tagBits: TAG_BYTES * 8 } as Mechanism['parameter'],
  };
}

/**
 * GCM IVs from node's CSPRNG, drawn 4 KiB at a time: one randomBytes call per 341 encryptions
 * instead of one each. Random 96-bit IVs, as NIST SP 800-38D §8.2.2 allows.
 */
export class IvSource {
  private buffer = Buffer.alloc(0);
  private offset = 0;
  next(): Buffer {
    if (this.offset + 12 > this.buffer.length) {
      this.buffer = randomBytes(4092);
      this.offset = 0;
    }
    const iv = this.buffer.subarray(this.offset, this.offset + 12);
    this.offset += 12;
    return iv;
  }
}

/** Encrypts in the token; returns the IV (ours, or the token's) and the ciphertext with its tag. */
export async function gcmEncrypt(
  calls: HsmCalls,
  profile: HsmProfile,
  ivs: IvSource,
  session: Handle,
  key: Handle,
  plaintext: Buffer,
  aad: Buffer,
): Promise<SymmetricCiphertext> {
  // Tokens that generate the IV write it into this buffer (pkcs11js passes its memory as pIv;
  // the call helper copies it back when the call ran on a worker thread).
  const iv = profile.hsmGeneratedGcmIv ? Buffer.alloc(12) : ivs.next();
  const ciphertext = await calls.initAndRun(
    'aes',
    ['C_EncryptInit', session, gcmMechanism(iv, aad), key],
    ['C_Encrypt', session, plaintext, Buffer.alloc(plaintext.length + TAG_BYTES)],
    { copyBack: profile.hsmGeneratedGcmIv },
  );
  return { iv, ciphertext };
}

/**
 * Decrypts in the token. Malformed input (an IV of another length, no room for the tag) is an
 * HsmError of kind `data` before the token is asked; a tag that does not verify is judged by the
 * caller's run() with the profile's bad-ciphertext codes.
 */
export function gcmDecrypt(
  calls: HsmCalls,
  session: Handle,
  key: Handle,
  iv: Buffer,
  ciphertext: Buffer,
  aad: Buffer,
  ivLengths: readonly number[] = [12],
): Promise<Buffer> | Buffer {
  if (!ivLengths.includes(iv.length) || ciphertext.length < TAG_BYTES)
    throw hsmError('CKR_ENCRYPTED_DATA_INVALID', 'C_Decrypt', 'data', `AES-GCM input needs a ${ivLengths.join(' or ')}-byte IV and a 16-byte tag.`);
  return calls.initAndRun('aes', ['C_DecryptInit', session, gcmMechanism(iv, aad), key], ['C_Decrypt', session, ciphertext, Buffer.alloc(ciphertext.length)]);
}
