import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oaepDecode } from '../../../src/backend/pkcs11/oaep.js';
import { parseMaterialBlob, writeMaterialBlob } from '../../../src/backend/pkcs11/material-blob.js';
import { parseSealedSecret, writeSealedSecret } from '../../../src/backend/pkcs11/sealed-secret.js';
import { ecdsaDerToRaw, ecdsaRawToDer } from '../../../src/backend/pkcs11/public-key.js';
import { HsmError } from '../../../src/backend/pkcs11/errors.js';

const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

describe('material blob', () => {
  it('round-trips every field', () => {
    const blob = { keySpec: 'ECC_NIST_P384' as const, purpose: 'cmk' as const, domainKeyId: id, wrapped: Buffer.alloc(48, 7) };
    const bytes = writeMaterialBlob(blob);
    expect(bytes[0]).toBe(1);
    expect(parseMaterialBlob(bytes)).toEqual(blob);
    const wrapping = { ...blob, keySpec: 'RSA_4096' as const, purpose: 'import-wrapping' as const };
    expect(parseMaterialBlob(writeMaterialBlob(wrapping))).toEqual(wrapping);
    const agreement = { ...blob, keySpec: 'ECC_NIST_P521' as const, purpose: 'key-agreement' as const };
    const agreementBytes = writeMaterialBlob(agreement);
    expect(agreementBytes[2]).not.toBe(bytes[2]);
    expect(parseMaterialBlob(agreementBytes)).toEqual(agreement);
  });

  it('parses from a Uint8Array view into a larger buffer', () => {
    const bytes = writeMaterialBlob({ keySpec: 'HMAC_256', purpose: 'cmk', domainKeyId: id, wrapped: Buffer.alloc(40, 1) });
    const big = new Uint8Array(bytes.length + 10);
    big.set(bytes, 5);
    expect(parseMaterialBlob(big.subarray(5, 5 + bytes.length)).keySpec).toBe('HMAC_256');
  });

  const good = writeMaterialBlob({ keySpec: 'SYMMETRIC_DEFAULT', purpose: 'cmk', domainKeyId: id, wrapped: Buffer.alloc(40, 9) });
  const malformed: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['header only', good.subarray(0, 4)],
    ['unknown version', Buffer.concat([Buffer.from([2]), good.subarray(1)])],
    ['unknown mechanism', Buffer.concat([Buffer.from([1, 9]), good.subarray(2)])],
    ['unknown key spec', Buffer.concat([Buffer.from([1, 1, 0x7f]), good.subarray(3)])],
    ['unknown key agreement key spec', Buffer.concat([Buffer.from([1, 1, 0x4f]), good.subarray(3)])],
    ['zero id length', Buffer.concat([Buffer.from([1, 1, 0, 0]), good.subarray(4)])],
    ['id longer than the blob', Buffer.concat([Buffer.from([1, 1, 0, 200]), good.subarray(4)])],
    ['wrapped part not a multiple of 8', good.subarray(0, good.length - 3)],
    ['wrapped part too short', good.subarray(0, 4 + 16 + 8)],
  ];
  for (const [what, bytes] of malformed) {
    it(`rejects ${what} as a data error`, () => {
      let error: unknown;
      try {
        parseMaterialBlob(bytes);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HsmError);
      expect(error).toMatchObject({ kind: 'data', code: 'CKR_WRAPPED_KEY_INVALID' });
    });
  }
});

describe('sealed secret', () => {
  it('round-trips and rejects malformed input', () => {
    const s = { sealKeyId: id, iv: Buffer.alloc(12, 1), ciphertext: Buffer.alloc(30, 2) };
    const bytes = writeSealedSecret(s);
    expect(parseSealedSecret(bytes)).toMatchObject(s);
    for (const bad of [Buffer.alloc(0), Buffer.from([2, 16]), bytes.subarray(0, 2 + 16 + 12 + 15), Buffer.concat([Buffer.from([1, 0]), bytes.subarray(2)])])
      expect(() => parseSealedSecret(bad)).toThrow(HsmError);
  });
});

describe('ECDSA signature encoding', () => {
  it('converts r‖s to minimal DER and back, including high bits and leading zeros', () => {
    const raw = Buffer.concat([Buffer.from([0x00, 0x00, 0x80, ...Array(29).fill(1)]), Buffer.from([0xff, ...Array(31).fill(2)])]);
    const der = ecdsaRawToDer(raw);
    expect(der[0]).toBe(0x30);
    expect(ecdsaDerToRaw(der, 32)).toEqual(raw);
  });

  it('handles P-521 lengths (long-form DER length)', () => {
    const raw = Buffer.alloc(132, 0xab);
    const der = ecdsaRawToDer(raw);
    expect(der[1]).toBe(0x81);
    expect(ecdsaDerToRaw(der, 66)).toEqual(raw);
  });

  it('refuses malformed DER', () => {
    const der = ecdsaRawToDer(Buffer.alloc(64, 5));
    expect(ecdsaDerToRaw(Buffer.concat([der, Buffer.from([0])]), 32)).toBeUndefined();
    expect(ecdsaDerToRaw(der.subarray(0, der.length - 1), 32)).toBeUndefined();
    expect(ecdsaDerToRaw(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]), 32)).toBeUndefined(); // negative r
    expect(ecdsaDerToRaw(Buffer.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]), 32)).toBeUndefined(); // non-minimal
    expect(ecdsaDerToRaw(ecdsaRawToDer(Buffer.alloc(66, 5)), 32)).toBeUndefined(); // too long for the curve
  });
});

describe('OAEP decoding (for tokens without OAEP-SHA-256)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const raw = (c: Buffer) => privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, c);

  for (const hash of ['sha1', 'sha256'] as const) {
    it(`${hash}: decodes what node:crypto encodes, for every message length`, () => {
      for (const length of [0, 1, 32, 256 - 2 * (hash === 'sha1' ? 20 : 32) - 2]) {
        const m = randomBytes(length);
        const c = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, m);
        expect(oaepDecode(hash, raw(c), 256)).toEqual(m);
      }
    });
  }

  it('rejects the wrong hash, a bad leading byte, a bad label hash and missing separator alike', () => {
    const m = randomBytes(32);
    const c = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, m);
    const em = raw(c);
    const cases = [
      () => oaepDecode('sha256', em, 256),
      () => oaepDecode('sha1', Buffer.concat([Buffer.from([1]), em.subarray(1)]), 256),
      () => oaepDecode('sha1', Buffer.alloc(256), 256),
      () => oaepDecode('sha1', randomBytes(256), 256),
      () => oaepDecode('sha1', Buffer.alloc(257), 256),
    ];
    for (const f of cases) {
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ kind: 'data', code: 'CKR_ENCRYPTED_DATA_INVALID', message: 'The ciphertext is not valid RSAES-OAEP for this key.' });
    }
  });
});
