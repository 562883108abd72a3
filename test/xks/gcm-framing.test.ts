/** The XKS AAD framing and CDIV, against the specification's own worked example (Appendix C). */
import { describe, expect, it } from 'vitest';
import { aadInput, ciphertextDataIntegrityValue, legacyAadInput } from '../../src/xks/gcm-framing.js';

describe('ciphertextDataIntegrityValue', () => {
  it('matches the example in Appendix C of the specification', () => {
    expect(
      ciphertextDataIntegrityValue({
        aad: Buffer.from('project=nile,department=marketing'),
        ciphertextMetadata: Buffer.from('key_version=1'),
        iv: Buffer.from('1ccae5470f39700254779031', 'hex'),
        ciphertext: Buffer.from('821c642b5b71783367deaf18', 'hex'),
        tag: Buffer.from('bc1c4dda7707d6812447c5955e99b261', 'hex'),
      }),
    ).toBe('qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=');
  });

  it('leaves absent AAD and metadata out of the hash', () => {
    const parts = { iv: Buffer.alloc(12, 1), ciphertext: Buffer.from('ct'), tag: Buffer.alloc(16, 2) };
    expect(ciphertextDataIntegrityValue(parts)).toBe(ciphertextDataIntegrityValue({ ...parts, aad: Buffer.alloc(0), ciphertextMetadata: Buffer.alloc(0) }));
  });
});

describe('AES-GCM additional data framing', () => {
  it('frames the AAD and the metadata with their lengths (2 bytes big-endian, then 1 byte)', () => {
    expect(aadInput(Buffer.from('ab'), Buffer.from('m'))).toEqual(Buffer.from([0, 2, 0x61, 0x62, 1, 0x6d]));
    expect(aadInput(undefined, undefined)).toEqual(Buffer.from([0, 0, 0]));
    expect(aadInput(Buffer.alloc(300, 7), undefined).subarray(0, 2)).toEqual(Buffer.from([1, 44]));
  });

  it('keeps an AAD and metadata that move bytes between them apart', () => {
    expect(aadInput(Buffer.from('ab'), Buffer.from('c')).equals(aadInput(Buffer.from('a'), Buffer.from('bc')))).toBe(false);
    expect(aadInput(undefined, Buffer.from('x')).equals(aadInput(Buffer.from('x'), undefined))).toBe(false);
  });

  it("rebuilds aws-kms-xks-proxy's digest framing for its old ciphertexts", () => {
    const legacy = legacyAadInput(Buffer.from('ab'), undefined);
    expect(legacy.subarray(0, 2)).toEqual(Buffer.from([0, 2]));
    expect(legacy).toHaveLength(2 + 32 + 1);
    expect(legacyAadInput(undefined, undefined)).toEqual(Buffer.from([0, 0, 0]));
  });

  it('refuses lengths the framing cannot hold', () => {
    expect(() => aadInput(Buffer.alloc(65536), undefined)).toThrow(RangeError);
    expect(() => aadInput(undefined, Buffer.alloc(256))).toThrow(RangeError);
  });
});
