import { constants, createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeySpec, SigningAlgorithm } from '../../../src/core/model.js';
import { getPublicKey } from '../../../src/core/operations/get-public-key.js';
import { sign } from '../../../src/core/operations/sign.js';
import { verify } from '../../../src/core/operations/verify.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from './crypto-fixtures.js';

let kms: TestKms;
beforeAll(async () => {
  kms = await createTestKms();
});
afterAll(() => kms.close());

const RSA_ALGORITHMS: SigningAlgorithm[] = [
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
];
const CASES: [KeySpec, SigningAlgorithm[], string][] = [
  ['RSA_2048', RSA_ALGORITHMS, 'rsa'],
  ['RSA_3072', ['RSASSA_PSS_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_256'], 'rsa'],
  ['RSA_4096', ['RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_512'], 'rsa'],
  ['ECC_NIST_P256', ['ECDSA_SHA_256'], 'prime256v1'],
  ['ECC_NIST_P384', ['ECDSA_SHA_384'], 'secp384r1'],
  ['ECC_NIST_P521', ['ECDSA_SHA_512'], 'secp521r1'],
  ['ECC_SECG_P256K1', ['ECDSA_SHA_256'], 'secp256k1'],
];

function hashOf(algorithm: SigningAlgorithm): string {
  return `sha${algorithm.slice(algorithm.lastIndexOf('_') + 1)}`;
}

/** Verifies a KMS signature independently with node:crypto (AWS PSS uses salt length = hash length). */
function nodeVerifies(publicKey: KeyObject, algorithm: SigningAlgorithm, message: Buffer, signature: Buffer): boolean {
  const hash = hashOf(algorithm);
  if (algorithm.startsWith('RSASSA_PSS'))
    return nodeVerify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  if (algorithm.startsWith('RSASSA_PKCS1'))
    return nodeVerify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  return nodeVerify(hash, message, { key: publicKey, dsaEncoding: 'der' }, signature);
}

describe('Sign, Verify and GetPublicKey', () => {
  for (const [spec, algorithms, curveOrType] of CASES) {
    it(`${spec}: signatures verify with node:crypto and with Verify, RAW and DIGEST`, async () => {
      const key = await newKey(kms, spec, 'SIGN_VERIFY');
      const pub = await call(kms, getPublicKey, { KeyId: key.keyId });
      expect(pub).toMatchObject({ KeyId: key.arn, KeySpec: spec, CustomerMasterKeySpec: spec, KeyUsage: 'SIGN_VERIFY' });
      expect(pub.EncryptionAlgorithms).toBeUndefined();
      const publicKey = createPublicKey({ key: bytesOf(pub.PublicKey), format: 'der', type: 'spki' });
      if (curveOrType === 'rsa') {
        expect(publicKey.asymmetricKeyType).toBe('rsa');
        expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(Number(spec.slice(4)));
        expect(pub.SigningAlgorithms).toEqual(expect.arrayContaining(RSA_ALGORITHMS));
      } else {
        expect(publicKey.asymmetricKeyDetails?.namedCurve).toBe(curveOrType);
        expect(pub.SigningAlgorithms).toEqual(algorithms);
      }

      const message = Buffer.from(`message for ${spec}`);
      for (const algorithm of algorithms) {
        const raw = await call(kms, sign, { KeyId: key.keyId, Message: b64(message), SigningAlgorithm: algorithm });
        expect(raw).toEqual({ KeyId: key.arn, Signature: expect.any(String), SigningAlgorithm: algorithm });
        const signature = bytesOf(raw.Signature);
        expect(nodeVerifies(publicKey, algorithm, message, signature), algorithm).toBe(true);
        expect(nodeVerifies(publicKey, algorithm, Buffer.from('other'), signature)).toBe(false);

        const digest = createHash(hashOf(algorithm)).update(message).digest();
        const fromDigest = await call(kms, sign, { KeyId: key.arn, Message: b64(digest), MessageType: 'DIGEST', SigningAlgorithm: algorithm });
        expect(nodeVerifies(publicKey, algorithm, message, bytesOf(fromDigest.Signature)), `${algorithm} DIGEST`).toBe(true);

        const ok = await call(kms, verify, { KeyId: key.keyId, Message: b64(message), Signature: raw.Signature, SigningAlgorithm: algorithm });
        expect(ok).toEqual({ KeyId: key.arn, SignatureValid: true, SigningAlgorithm: algorithm });
        await call(kms, verify, { KeyId: key.keyId, Message: b64(digest), MessageType: 'DIGEST', Signature: raw.Signature, SigningAlgorithm: algorithm });

        const bad = Buffer.from(signature);
        bad[bad.length - 1]! ^= 1;
        await expectKmsError(call(kms, verify, { KeyId: key.keyId, Message: b64(message), Signature: b64(bad), SigningAlgorithm: algorithm }), 'KMSInvalidSignatureException');
        await expectKmsError(call(kms, verify, { KeyId: key.keyId, Message: b64('changed'), Signature: raw.Signature, SigningAlgorithm: algorithm }), 'KMSInvalidSignatureException');
        // The digest signed again as RAW is a different message.
        await expectKmsError(call(kms, verify, { KeyId: key.keyId, Message: b64(digest), Signature: raw.Signature, SigningAlgorithm: algorithm }), 'KMSInvalidSignatureException');
      }
    });
  }

  it('checks the digest length against the algorithm', async () => {
    const key = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
    await expectKmsError(call(kms, sign, { KeyId: key.keyId, Message: b64(Buffer.alloc(31)), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }), 'ValidationException', /Digest is invalid length/);
    await expectKmsError(call(kms, sign, { KeyId: key.keyId, Message: b64(Buffer.alloc(48)), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }), 'ValidationException', 'Digest is invalid length for algorithm ECDSA_SHA_256.');
    await expectKmsError(call(kms, verify, { KeyId: key.keyId, Message: b64(Buffer.alloc(33)), MessageType: 'DIGEST', Signature: b64('x'), SigningAlgorithm: 'ECDSA_SHA_256' }), 'ValidationException');
  });

  it('refuses algorithms the key does not offer, wrong usage and bad input', async () => {
    const ec = await newKey(kms, 'ECC_NIST_P384', 'SIGN_VERIFY');
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m'), SigningAlgorithm: 'ECDSA_SHA_256' }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m'), SigningAlgorithm: 'RSASSA_PSS_SHA_384' }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m'), SigningAlgorithm: 'ECDSA_SHA_1' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m') }), 'ValidationException', /signingAlgorithm/);
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64(Buffer.alloc(4097)), SigningAlgorithm: 'ECDSA_SHA_384' }), 'ValidationException', /4096/);
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m'), MessageType: 'HASHED', SigningAlgorithm: 'ECDSA_SHA_384' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, verify, { KeyId: ec.keyId, Message: b64('m'), SigningAlgorithm: 'ECDSA_SHA_384' }), 'ValidationException', /signature/);
    await expectKmsError(call(kms, sign, { KeyId: ec.keyId, Message: b64('m'), SigningAlgorithm: 'ECDSA_SHA_384', DryRun: true }), 'DryRunOperationException');
    const rsaEncrypt = await newKey(kms, 'RSA_2048', 'ENCRYPT_DECRYPT');
    await expectKmsError(call(kms, sign, { KeyId: rsaEncrypt.keyId, Message: b64('m'), SigningAlgorithm: 'RSASSA_PSS_SHA_256' }), 'InvalidKeyUsageException');
    const pub = await call(kms, getPublicKey, { KeyId: rsaEncrypt.keyId });
    expect(pub).toMatchObject({ KeyUsage: 'ENCRYPT_DECRYPT', EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] });
    expect(pub.SigningAlgorithms).toBeUndefined();
    const symmetric = await newKey(kms);
    await expectKmsError(call(kms, sign, { KeyId: symmetric.keyId, Message: b64('m'), SigningAlgorithm: 'ECDSA_SHA_256' }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, getPublicKey, { KeyId: symmetric.keyId }), 'UnsupportedOperationException');
    await expectKmsError(call(kms, getPublicKey, { KeyId: 'alias/none' }), 'NotFoundException');
  });
});
