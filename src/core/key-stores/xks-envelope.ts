/**
 * The outer layer of a ciphertext under a key in an external key store. Such keys encrypt twice,
 * as in AWS: first in hsmkms's own HSM under the key's own material (the blob's IV, and the
 * ciphertext with its tag, as for any key), then that ciphertext in the external key manager
 * through the XKS proxy. What the proxy returns takes the place of the inner ciphertext in the
 * CiphertextBlob (ciphertext-blob.ts), in this layout:
 *
 * | bytes | field                                         |
 * |-------|-----------------------------------------------|
 * | 1     | envelope version, `0x01`                      |
 * | 1     | IV length (12 or 16)                          |
 * | n     | IV chosen by the external key manager         |
 * | 1     | ciphertextMetadata length (0–20)              |
 * | m     | ciphertextMetadata                            |
 * | 16    | authentication tag                            |
 * | rest  | the inner ciphertext, encrypted by the proxy  |
 *
 * The XKS additional data is SHA-256 of the blob's own AAD (header and encryption context), so the
 * outer layer is bound to the same key, version and context, within the proxy's 8 KiB AAD limit.
 */
import { createHash } from 'node:crypto';
import { KmsError } from '../errors.js';
import type { XksCiphertext } from './ports.js';

const VERSION = 1;

export function writeXksEnvelope(outer: XksCiphertext): Buffer {
  const metadata = outer.ciphertextMetadata ?? Buffer.alloc(0);
  if ((outer.iv.length !== 12 && outer.iv.length !== 16) || outer.tag.length !== 16 || metadata.length > 20)
    throw new RangeError('XKS ciphertext parts of the wrong size');
  return Buffer.concat([Buffer.from([VERSION, outer.iv.length]), outer.iv, Buffer.from([metadata.length]), metadata, outer.tag, outer.ciphertext]);
}

/** Parses an envelope; anything malformed is InvalidCiphertextException, as a bad tag is. */
export function parseXksEnvelope(bytes: Uint8Array): XksCiphertext {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const invalid = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid, was altered, or the encryption context does not match.');
  if (buf.length < 2 || buf[0] !== VERSION) throw invalid();
  const ivLength = buf[1]!;
  if (ivLength !== 12 && ivLength !== 16) throw invalid();
  const mdAt = 2 + ivLength;
  if (buf.length < mdAt + 1) throw invalid();
  const mdLength = buf[mdAt]!;
  const tagAt = mdAt + 1 + mdLength;
  if (mdLength > 20 || buf.length < tagAt + 16) throw invalid();
  return {
    iv: buf.subarray(2, mdAt),
    ciphertextMetadata: mdLength > 0 ? buf.subarray(mdAt + 1, tagAt) : undefined,
    tag: buf.subarray(tagAt, tagAt + 16),
    ciphertext: buf.subarray(tagAt + 16),
  };
}

/** The additional data the proxy sees: SHA-256 of the blob's AAD. */
export function xksAad(blobAad: Uint8Array): Buffer {
  return createHash('sha256').update(blobAad).digest();
}
