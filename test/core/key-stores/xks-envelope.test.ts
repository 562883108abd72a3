/** The outer layer of external-key-store ciphertexts: round trip, and malformed input refused. */
import { describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import { parseXksEnvelope, writeXksEnvelope, xksAad } from '../../../src/core/key-stores/xks-envelope.js';

const outer = { iv: Buffer.alloc(12, 1), ciphertext: Buffer.from('inner ciphertext'), tag: Buffer.alloc(16, 2), ciphertextMetadata: Buffer.from('v1') };

describe('XKS envelope', () => {
  it('round-trips with and without ciphertextMetadata, and a 16-byte IV', () => {
    expect(parseXksEnvelope(writeXksEnvelope(outer))).toEqual(outer);
    const plain = { iv: Buffer.alloc(16, 3), ciphertext: Buffer.alloc(0), tag: Buffer.alloc(16, 4) };
    expect(parseXksEnvelope(writeXksEnvelope(plain))).toEqual({ ...plain, ciphertextMetadata: undefined });
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['another version', Buffer.concat([Buffer.from([2]), writeXksEnvelope(outer).subarray(1)])],
    ['an 11-byte IV', Buffer.from([1, 11, ...Buffer.alloc(11), 0, ...Buffer.alloc(16)])],
    ['metadata longer than 20 bytes', Buffer.from([1, 12, ...Buffer.alloc(12), 21, ...Buffer.alloc(40)])],
    ['no room for the tag', Buffer.from([1, 12, ...Buffer.alloc(12), 0, ...Buffer.alloc(15)])],
    ['truncated before the metadata length', Buffer.from([1, 12, ...Buffer.alloc(12)])],
  ])('refuses %s with InvalidCiphertextException', (_name, bytes) => {
    expect(() => parseXksEnvelope(bytes)).toThrow(KmsError);
    try {
      parseXksEnvelope(bytes);
    } catch (error) {
      expect((error as KmsError).type).toBe('InvalidCiphertextException');
    }
  });

  it('refuses to write parts of the wrong size', () => {
    expect(() => writeXksEnvelope({ ...outer, tag: Buffer.alloc(12) })).toThrow(RangeError);
    expect(() => writeXksEnvelope({ ...outer, ciphertextMetadata: Buffer.alloc(21) })).toThrow(RangeError);
  });

  it('gives the proxy a 32-byte digest of the blob AAD, whatever its size', () => {
    expect(xksAad(Buffer.alloc(9000, 7))).toHaveLength(32);
    expect(xksAad(Buffer.from('a')).equals(xksAad(Buffer.from('b')))).toBe(false);
  });
});
