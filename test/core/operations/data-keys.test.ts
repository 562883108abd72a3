import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataKeyPairSpec, KeyRecord } from '../../../src/core/model.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { generateDataKey } from '../../../src/core/operations/generate-data-key.js';
import { generateDataKeyPair } from '../../../src/core/operations/generate-data-key-pair.js';
import { generateDataKeyPairWithoutPlaintext } from '../../../src/core/operations/generate-data-key-pair-without-plaintext.js';
import { generateDataKeyWithoutPlaintext } from '../../../src/core/operations/generate-data-key-without-plaintext.js';
import { generateRandom } from '../../../src/core/operations/generate-random.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from './crypto-fixtures.js';

let kms: TestKms;
let key: KeyRecord;
const context = { app: 'data-keys' };

beforeAll(async () => {
  kms = await createTestKms();
  key = await newKey(kms);
});
afterAll(() => kms.close());

async function decrypted(ciphertext: unknown, ctx: Record<string, string> = context): Promise<Buffer> {
  return bytesOf((await call(kms, decrypt, { CiphertextBlob: ciphertext, EncryptionContext: ctx })).Plaintext);
}

describe('GenerateDataKey', () => {
  it('returns a plaintext key and its encryption under the KMS key, for KeySpec and NumberOfBytes', async () => {
    for (const [request, length] of [[{ KeySpec: 'AES_256' }, 32], [{ KeySpec: 'AES_128' }, 16], [{ NumberOfBytes: 1 }, 1], [{ NumberOfBytes: 1024 }, 1024]] as const) {
      const out = await call(kms, generateDataKey, { KeyId: key.keyId, EncryptionContext: context, ...request });
      expect(out).toEqual({ CiphertextBlob: expect.any(String), Plaintext: expect.any(String), KeyId: key.arn, KeyMaterialId: key.currentVersionId });
      const plaintext = bytesOf(out.Plaintext);
      expect(plaintext.length).toBe(length);
      expect(await decrypted(out.CiphertextBlob)).toEqual(plaintext);
    }
    const a = await call(kms, generateDataKey, { KeyId: key.keyId, KeySpec: 'AES_256' });
    const b = await call(kms, generateDataKey, { KeyId: key.keyId, KeySpec: 'AES_256' });
    expect(a.Plaintext).not.toBe(b.Plaintext);
  });

  it('WithoutPlaintext returns only the encrypted key', async () => {
    const out = await call(kms, generateDataKeyWithoutPlaintext, { KeyId: key.arn, KeySpec: 'AES_256', EncryptionContext: context });
    expect(out).toEqual({ CiphertextBlob: expect.any(String), KeyId: key.arn, KeyMaterialId: key.currentVersionId });
    expect((await decrypted(out.CiphertextBlob)).length).toBe(32);
    await expectKmsError(decrypted(out.CiphertextBlob, {}), 'InvalidCiphertextException');
  });

  it('wants exactly one of KeySpec and NumberOfBytes, in range, and a symmetric key', async () => {
    for (const operation of [generateDataKey, generateDataKeyWithoutPlaintext]) {
      await expectKmsError(call(kms, operation, { KeyId: key.keyId }), 'ValidationException', /NumberOfBytes or KeySpec/);
      await expectKmsError(call(kms, operation, { KeyId: key.keyId, KeySpec: 'AES_256', NumberOfBytes: 32 }), 'ValidationException', /not both/);
      await expectKmsError(call(kms, operation, { KeyId: key.keyId, NumberOfBytes: 0 }), 'ValidationException', /greater than or equal to 1/);
      await expectKmsError(call(kms, operation, { KeyId: key.keyId, NumberOfBytes: 1025 }), 'ValidationException', /less than or equal to 1024/);
      await expectKmsError(call(kms, operation, { KeyId: key.keyId, KeySpec: 'AES_512' }), 'ValidationException', /enum/);
      await expectKmsError(call(kms, operation, { KeyId: key.keyId, KeySpec: 'AES_256', DryRun: true }), 'DryRunOperationException');
    }
    const rsa = await newKey(kms, 'RSA_2048', 'ENCRYPT_DECRYPT');
    await expectKmsError(call(kms, generateDataKey, { KeyId: rsa.keyId, KeySpec: 'AES_256' }), 'InvalidKeyUsageException');
  });
});

describe('GenerateDataKeyPair', () => {
  const specs: [DataKeyPairSpec, string, string | undefined][] = [
    ['RSA_2048', 'rsa', undefined],
    ['ECC_NIST_P256', 'ec', 'prime256v1'],
    ['ECC_NIST_P384', 'ec', 'secp384r1'],
    ['ECC_NIST_P521', 'ec', 'secp521r1'],
    ['ECC_SECG_P256K1', 'ec', 'secp256k1'],
  ];
  for (const [spec, type, curve] of specs) {
    it(`${spec}: PKCS#8 private key, SPKI public key that belong together, private key encrypted under the KMS key`, async () => {
      const out = await call(kms, generateDataKeyPair, { KeyId: key.keyId, KeyPairSpec: spec, EncryptionContext: context });
      expect(out).toEqual({
        KeyId: key.arn,
        KeyPairSpec: spec,
        PrivateKeyCiphertextBlob: expect.any(String),
        PrivateKeyPlaintext: expect.any(String),
        PublicKey: expect.any(String),
        KeyMaterialId: key.currentVersionId,
      });
      const privateKey = createPrivateKey({ key: bytesOf(out.PrivateKeyPlaintext), format: 'der', type: 'pkcs8' });
      const publicKey = createPublicKey({ key: bytesOf(out.PublicKey), format: 'der', type: 'spki' });
      expect(privateKey.asymmetricKeyType).toBe(type);
      if (curve) expect(publicKey.asymmetricKeyDetails?.namedCurve).toBe(curve);
      const signature = nodeSign('sha256', Buffer.from('pair'), privateKey);
      expect(nodeVerify('sha256', Buffer.from('pair'), publicKey, signature)).toBe(true);
      expect(await decrypted(out.PrivateKeyCiphertextBlob)).toEqual(bytesOf(out.PrivateKeyPlaintext));
    });
  }

  it('WithoutPlaintext omits the private key but its ciphertext decrypts to a matching PKCS#8 key', async () => {
    const out = await call(kms, generateDataKeyPairWithoutPlaintext, { KeyId: key.keyId, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: context });
    expect(out.PrivateKeyPlaintext).toBeUndefined();
    const privateKey = createPrivateKey({ key: await decrypted(out.PrivateKeyCiphertextBlob), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: bytesOf(out.PublicKey), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', Buffer.from('x'), publicKey, nodeSign('sha256', Buffer.from('x'), privateKey))).toBe(true);
  });

  it('validates KeyPairSpec and the KMS key', async () => {
    await expectKmsError(call(kms, generateDataKeyPair, { KeyId: key.keyId }), 'ValidationException', /keyPairSpec/);
    await expectKmsError(call(kms, generateDataKeyPair, { KeyId: key.keyId, KeyPairSpec: 'RSA_1024' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, generateDataKeyPair, { KeyId: key.keyId, KeyPairSpec: 'RSA_2048', DryRun: true }), 'DryRunOperationException');
    const hmac = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    await expectKmsError(call(kms, generateDataKeyPairWithoutPlaintext, { KeyId: hmac.keyId, KeyPairSpec: 'RSA_2048' }), 'InvalidKeyUsageException');
  });
});

describe('GenerateRandom', () => {
  it('returns the requested number of random bytes', async () => {
    for (const n of [1, 32, 1024]) expect(bytesOf((await call(kms, generateRandom, { NumberOfBytes: n })).Plaintext).length).toBe(n);
    const a = await call(kms, generateRandom, { NumberOfBytes: 32 });
    const b = await call(kms, generateRandom, { NumberOfBytes: 32 });
    expect(a.Plaintext).not.toBe(b.Plaintext);
  });

  it('validates NumberOfBytes and refuses custom key stores', async () => {
    await expectKmsError(call(kms, generateRandom, {}), 'ValidationException', 'NumberOfBytes is required.');
    await expectKmsError(call(kms, generateRandom, { NumberOfBytes: 0 }), 'ValidationException');
    await expectKmsError(call(kms, generateRandom, { NumberOfBytes: 1025 }), 'ValidationException');
    await expectKmsError(call(kms, generateRandom, { NumberOfBytes: 1.5 }), 'SerializationException');
    await expectKmsError(call(kms, generateRandom, { NumberOfBytes: 8, CustomKeyStoreId: 'cks-1234567890abcdef0' }), 'CustomKeyStoreNotFoundException');
  });
});
