import { describe, expect, it } from 'vitest';
import {
  CIPHERTEXT_BLOB_VERSION,
  MIN_CIPHERTEXT_BLOB_LENGTH,
  ciphertextAad,
  ciphertextHeader,
  parseCiphertextBlob,
  writeCiphertextBlob,
} from '../../src/core/ciphertext-blob.js';
import { canonicalEncryptionContext } from '../../src/core/encryption-context.js';
import { KmsError } from '../../src/core/errors.js';

const ref = { keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', versionId: 'ab'.repeat(32) };
const iv = Buffer.alloc(12, 7);
const ciphertext = Buffer.concat([Buffer.from('ciphertext'), Buffer.alloc(16, 9)]);

function expectInvalid(bytes: Uint8Array): void {
  try {
    parseCiphertextBlob(bytes);
    expect.unreachable('parsed a malformed blob');
  } catch (err) {
    expect(err).toBeInstanceOf(KmsError);
    expect((err as KmsError).type).toBe('InvalidCiphertextException');
  }
}

describe('ciphertext blob', () => {
  it('round-trips key id, version id, IV and ciphertext', () => {
    const header = ciphertextHeader(ref);
    const bytes = writeCiphertextBlob(header, iv, ciphertext);
    const parsed = parseCiphertextBlob(bytes);
    expect(parsed).toEqual({ ...ref, header, iv, ciphertext });
    expect(bytes[0]).toBe(CIPHERTEXT_BLOB_VERSION);
    expect(bytes.length).toBe(2 + ref.keyId.length + 32 + 12 + ciphertext.length);
  });

  it('uses header then canonical context as the AAD', () => {
    const header = ciphertextHeader(ref);
    const context = { purpose: 'test' };
    expect(ciphertextAad(header, context)).toEqual(Buffer.concat([header, canonicalEncryptionContext(context)]));
    expect(ciphertextAad(header, {})).not.toEqual(ciphertextAad(header, context));
  });

  it('refuses to write ids it could not parse back', () => {
    expect(() => ciphertextHeader({ ...ref, keyId: '' })).toThrow(RangeError);
    expect(() => ciphertextHeader({ ...ref, keyId: 'k'.repeat(256) })).toThrow(RangeError);
    expect(() => ciphertextHeader({ ...ref, keyId: 'alias/x' })).toThrow(RangeError);
    expect(() => ciphertextHeader({ ...ref, versionId: 'AB'.repeat(32) })).toThrow(RangeError);
    expect(() => ciphertextHeader({ ...ref, versionId: 'ab' })).toThrow(RangeError);
    expect(() => writeCiphertextBlob(ciphertextHeader(ref), Buffer.alloc(11), ciphertext)).toThrow(RangeError);
    expect(() => writeCiphertextBlob(ciphertextHeader(ref), iv, Buffer.alloc(15))).toThrow(RangeError);
  });

  it('rejects malformed input with InvalidCiphertextException', () => {
    const good = writeCiphertextBlob(ciphertextHeader(ref), iv, ciphertext);
    expectInvalid(Buffer.alloc(0));
    expectInvalid(Buffer.alloc(MIN_CIPHERTEXT_BLOB_LENGTH - 1, 1));
    expectInvalid(Buffer.from(Buffer.alloc(200, 0x41).toString('base64')));
    for (const version of [0, 2, 0xff]) {
      const copy = Buffer.from(good);
      copy[0] = version;
      expectInvalid(copy);
    }
    const zeroLengthKey = Buffer.from(good);
    zeroLengthKey[1] = 0;
    expectInvalid(zeroLengthKey);
    const keyLongerThanBlob = Buffer.from(good);
    keyLongerThanBlob[1] = 255;
    expectInvalid(keyLongerThanBlob);
    // Every truncation that leaves less than a header, an IV and a tag.
    const minimum = 2 + ref.keyId.length + 32 + 12 + 16;
    for (let length = 0; length < minimum; length++) expectInvalid(good.subarray(0, length));
    // Key id bytes outside the key-id alphabet: non-ASCII, '/', ':' (alias names and ARNs).
    for (const byte of [0xc3, 0x2f, 0x3a, 0x00, 0x20]) {
      const copy = Buffer.from(good);
      copy[2] = byte;
      expectInvalid(copy);
    }
  });

  it('parses a blob whose key id length points elsewhere as a different header, which the AAD then rejects', () => {
    const good = writeCiphertextBlob(ciphertextHeader(ref), iv, ciphertext);
    const shifted = Buffer.from(good);
    shifted[1] = ref.keyId.length - 1;
    const parsed = parseCiphertextBlob(shifted);
    expect(parsed.header).not.toEqual(ciphertextHeader(ref));
  });
});
