import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRecord, WrappingAlgorithm, WrappingKeySpec } from '../../../src/core/model.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { deleteImportedKeyMaterial } from '../../../src/core/operations/delete-imported-key-material.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { getParametersForImport } from '../../../src/core/operations/get-parameters-for-import.js';
import { importKeyMaterial } from '../../../src/core/operations/import-key-material.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from './crypto-fixtures.js';

let kms: TestKms;
beforeAll(async () => {
  kms = await createTestKms();
});
afterAll(() => kms.close());

interface Parameters {
  token: string;
  publicKey: KeyObject;
  algorithm: WrappingAlgorithm;
}

async function parameters(key: KeyRecord, algorithm: WrappingAlgorithm = 'RSAES_OAEP_SHA_256', spec: WrappingKeySpec = 'RSA_2048'): Promise<Parameters> {
  const out = await call(kms, getParametersForImport, { KeyId: key.keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: spec });
  return { token: out.ImportToken as string, publicKey: createPublicKey({ key: bytesOf(out.PublicKey), format: 'der', type: 'spki' }), algorithm };
}

/** Wraps material the way AWS documents for each wrapping algorithm, with node:crypto only. */
function wrap(params: Parameters, material: Buffer): Buffer {
  const oaepHash = params.algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  const oaep = (data: Buffer) => publicEncrypt({ key: params.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, data);
  if (params.algorithm.startsWith('RSAES_OAEP')) return oaep(material);
  // RSA_AES_KEY_WRAP: OAEP-encrypted ephemeral AES key, then the material under AES-KWP (RFC 5649).
  const ephemeral = randomBytes(32);
  const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('a65959a6', 'hex'));
  return Buffer.concat([oaep(ephemeral), kwp.update(material), kwp.final()]);
}

async function importInto(key: KeyRecord, material: Buffer, params?: Parameters, extra: Record<string, unknown> = {}) {
  const p = params ?? (await parameters(key));
  return call(kms, importKeyMaterial, {
    KeyId: key.keyId,
    ImportToken: p.token,
    EncryptedKeyMaterial: b64(wrap(p, material)),
    ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    ...extra,
  });
}

async function keyState(key: KeyRecord): Promise<Record<string, unknown>> {
  return (await call(kms, describeKey, { KeyId: key.keyId })).KeyMetadata as Record<string, unknown>;
}

async function roundTrip(key: KeyRecord): Promise<string> {
  const out = await call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('imported'), EncryptionContext: { k: 'v' } });
  const back = await call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, EncryptionContext: { k: 'v' } });
  expect(bytesOf(back.Plaintext).toString()).toBe('imported');
  return out.CiphertextBlob as string;
}

describe('GetParametersForImport', () => {
  it('returns an HSM wrapping key of the requested size and a token valid for 24 hours', async () => {
    const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    for (const spec of ['RSA_2048', 'RSA_3072'] as const) {
      const out = await call(kms, getParametersForImport, { KeyId: key.arn, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: spec });
      expect(out).toEqual({ KeyId: key.arn, ImportToken: expect.any(String), PublicKey: expect.any(String), ParametersValidTo: kms.clock.now().getTime() / 1000 + 86400 });
      const publicKey = createPublicKey({ key: bytesOf(out.PublicKey), format: 'der', type: 'spki' });
      expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(Number(spec.slice(4)));
      expect(bytesOf(out.ImportToken).includes(Buffer.from(key.keyId))).toBe(false);
    }
  });

  it('validates its input and wants an EXTERNAL key', async () => {
    const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    await expectKmsError(call(kms, getParametersForImport, { KeyId: key.keyId, WrappingAlgorithm: 'RSAES_PKCS1_V1_5', WrappingKeySpec: 'RSA_2048' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, getParametersForImport, { KeyId: key.keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_1024' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, getParametersForImport, { KeyId: key.keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1' }), 'ValidationException', /wrappingKeySpec/);
    const native = await newKey(kms);
    await expectKmsError(call(kms, getParametersForImport, { KeyId: native.keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_1', WrappingKeySpec: 'RSA_2048' }), 'UnsupportedOperationException');
    await expectKmsError(call(kms, importKeyMaterial, { KeyId: native.keyId, ImportToken: b64('t'), EncryptedKeyMaterial: b64('m'), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'UnsupportedOperationException');
    await expectKmsError(call(kms, deleteImportedKeyMaterial, { KeyId: native.keyId }), 'UnsupportedOperationException');
  });
});

describe('ImportKeyMaterial', () => {
  const cases: [WrappingAlgorithm, WrappingKeySpec][] = [
    ['RSAES_OAEP_SHA_1', 'RSA_2048'],
    ['RSAES_OAEP_SHA_256', 'RSA_2048'],
    ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_2048'],
    ['RSA_AES_KEY_WRAP_SHA_256', 'RSA_3072'],
    ['RSAES_OAEP_SHA_256', 'RSA_4096'],
  ];
  for (const [algorithm, spec] of cases) {
    it(`imports material wrapped with ${algorithm} under ${spec} and the key works`, async () => {
      const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
      expect((await keyState(key)).KeyState).toBe('PendingImport');
      expect(await keyState(key)).not.toHaveProperty('CurrentKeyMaterialId'); // never imported into: none yet, as AWS KMS shows it
      await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x') }), 'KMSInvalidStateException');
      const out = await importInto(key, randomBytes(32), await parameters(key, algorithm, spec));
      expect(out).toEqual({ KeyId: key.arn, KeyMaterialId: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(await keyState(key)).toMatchObject({ KeyState: 'Enabled', Enabled: true, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', CurrentKeyMaterialId: out.KeyMaterialId });
      await roundTrip(key);
    });
  }

  it('two keys importing the same material encrypt interchangeably only within each key', async () => {
    const material = randomBytes(32);
    const a = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    const b = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    await importInto(a, material);
    await importInto(b, material);
    const blob = await roundTrip(a);
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { k: 'v' }, KeyId: b.keyId }), 'IncorrectKeyException');
  });

  it('after DeleteImportedKeyMaterial accepts only the same material again, and old ciphertexts decrypt', async () => {
    const material = randomBytes(32);
    const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    const first = await importInto(key, material);
    const blob = await roundTrip(key);

    // Different material is refused while the key has material, too.
    await expectKmsError(importInto(key, randomBytes(32)), 'IncorrectKeyMaterialException');

    const deleted = await call(kms, deleteImportedKeyMaterial, { KeyId: key.arn });
    expect(deleted).toEqual({ KeyId: key.arn, KeyMaterialId: first.KeyMaterialId });
    // AWS KMS's DescribeKey after DeleteImportedKeyMaterial (recorded): the kept id, no ExpirationModel.
    const pending = await keyState(key);
    expect(pending).toMatchObject({ KeyState: 'PendingImport', Enabled: false, CurrentKeyMaterialId: first.KeyMaterialId });
    expect(pending).not.toHaveProperty('ExpirationModel');
    expect(await kms.store.listKeyVersions(key.keyId)).toEqual([]);
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { k: 'v' } }), 'KMSInvalidStateException');
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x') }), 'KMSInvalidStateException');

    await expectKmsError(importInto(key, randomBytes(32)), 'IncorrectKeyMaterialException');
    expect((await keyState(key)).KeyState).toBe('PendingImport');

    const again = await importInto(key, material, await parameters(key, 'RSA_AES_KEY_WRAP_SHA_1'));
    expect(again.KeyMaterialId).toBe(first.KeyMaterialId);
    const back = await call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { k: 'v' } });
    expect(bytesOf(back.Plaintext).toString()).toBe('imported');
    expect(await kms.store.listKeyVersions(key.keyId)).toHaveLength(1);
  });

  it('sets an expiry and validates ExpirationModel and ValidTo', async () => {
    const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    const material = randomBytes(32);
    const now = kms.clock.now().getTime() / 1000;
    const p = await parameters(key);
    await expectKmsError(importInto(key, material, p, { ExpirationModel: 'KEY_MATERIAL_EXPIRES' }), 'ValidationException', /validTo/);
    await expectKmsError(importInto(key, material, p, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: now - 1 }), 'ValidationException', /future/);
    await expectKmsError(importInto(key, material, p, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: now + 366 * 86400 }), 'ValidationException', /365 days/);
    await expectKmsError(importInto(key, material, p, { ValidTo: now + 3600 }), 'ValidationException', /omitted/);
    await expectKmsError(importInto(key, material, p, { ExpirationModel: 'NEVER' }), 'ValidationException', /enum/);
    await expectKmsError(importInto(key, material, p, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: 'tomorrow' }), 'SerializationException');
    await importInto(key, material, p, { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: now + 3600 });
    expect(await keyState(key)).toMatchObject({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: now + 3600 });
  });

  it('refuses expired, foreign, altered and garbage tokens, and material it cannot unwrap', async () => {
    const key = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    const other = await newKey(kms, 'SYMMETRIC_DEFAULT', undefined, { Origin: 'EXTERNAL' });
    const material = randomBytes(32);
    const p = await parameters(key);

    await expectKmsError(importInto(other, material, p), 'InvalidImportTokenException');
    const altered = bytesOf(p.token);
    altered[altered.length - 3]! ^= 1;
    await expectKmsError(importInto(key, material, { ...p, token: b64(altered) }), 'InvalidImportTokenException');
    await expectKmsError(importInto(key, material, { ...p, token: b64(randomBytes(100)) }), 'InvalidImportTokenException');
    await expectKmsError(call(kms, importKeyMaterial, { KeyId: key.keyId, ImportToken: p.token, EncryptedKeyMaterial: b64(randomBytes(256)), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'InvalidCiphertextException');
    // Wrapped with the other OAEP hash than the token was issued for.
    await expectKmsError(importInto(key, material, { ...p, algorithm: 'RSAES_OAEP_SHA_1' }), 'InvalidCiphertextException');
    expect((await keyState(key)).KeyState).toBe('PendingImport');

    kms.clock.advance(24 * 60 * 60 * 1000 + 1000);
    await expectKmsError(importInto(key, material, p), 'ExpiredImportTokenException');
    await importInto(key, material);
    expect((await keyState(key)).KeyState).toBe('Enabled');
  });
});
