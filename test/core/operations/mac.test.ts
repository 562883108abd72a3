import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeySpec, MacAlgorithm } from '../../../src/core/model.js';
import { generateMac } from '../../../src/core/operations/generate-mac.js';
import { verifyMac } from '../../../src/core/operations/verify-mac.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from './crypto-fixtures.js';

let kms: TestKms;
beforeAll(async () => {
  kms = await createTestKms();
});
afterAll(() => kms.close());

const CASES: [KeySpec, MacAlgorithm, number][] = [
  ['HMAC_224', 'HMAC_SHA_224', 28],
  ['HMAC_256', 'HMAC_SHA_256', 32],
  ['HMAC_384', 'HMAC_SHA_384', 48],
  ['HMAC_512', 'HMAC_SHA_512', 64],
];

describe('GenerateMac and VerifyMac', () => {
  for (const [spec, algorithm, length] of CASES) {
    it(`${spec}: deterministic ${length}-byte MACs that VerifyMac accepts and rejects when altered`, async () => {
      const key = await newKey(kms, spec, 'GENERATE_VERIFY_MAC');
      const message = b64(`message for ${spec}`);
      const out = await call(kms, generateMac, { KeyId: key.keyId, Message: message, MacAlgorithm: algorithm });
      expect(out).toEqual({ KeyId: key.arn, Mac: expect.any(String), MacAlgorithm: algorithm });
      const mac = bytesOf(out.Mac);
      expect(mac.length).toBe(length);
      expect((await call(kms, generateMac, { KeyId: key.arn, Message: message, MacAlgorithm: algorithm })).Mac).toBe(out.Mac);
      expect((await call(kms, generateMac, { KeyId: key.keyId, Message: b64('other'), MacAlgorithm: algorithm })).Mac).not.toBe(out.Mac);

      expect(await call(kms, verifyMac, { KeyId: key.keyId, Message: message, Mac: out.Mac, MacAlgorithm: algorithm })).toEqual({
        KeyId: key.arn,
        MacValid: true,
        MacAlgorithm: algorithm,
      });
      const altered = Buffer.from(mac);
      altered[0]! ^= 1;
      await expectKmsError(call(kms, verifyMac, { KeyId: key.keyId, Message: message, Mac: b64(altered), MacAlgorithm: algorithm }), 'KMSInvalidMacException');
      await expectKmsError(call(kms, verifyMac, { KeyId: key.keyId, Message: message, Mac: b64(mac.subarray(0, length - 1)), MacAlgorithm: algorithm }), 'KMSInvalidMacException');
      await expectKmsError(call(kms, verifyMac, { KeyId: key.keyId, Message: b64('other'), Mac: out.Mac, MacAlgorithm: algorithm }), 'KMSInvalidMacException');
    });
  }

  it('keys are distinct: one key\'s MAC does not verify under another', async () => {
    const a = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    const b = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    const out = await call(kms, generateMac, { KeyId: a.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_256' });
    await expectKmsError(call(kms, verifyMac, { KeyId: b.keyId, Message: b64('m'), Mac: out.Mac, MacAlgorithm: 'HMAC_SHA_256' }), 'KMSInvalidMacException');
  });

  it('validates algorithm, usage and sizes', async () => {
    const key = await newKey(kms, 'HMAC_384', 'GENERATE_VERIFY_MAC');
    await expectKmsError(call(kms, generateMac, { KeyId: key.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_256' }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, generateMac, { KeyId: key.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_MD5' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, generateMac, { KeyId: key.keyId, Message: b64(Buffer.alloc(4097)), MacAlgorithm: 'HMAC_SHA_384' }), 'ValidationException', /4096/);
    await expectKmsError(call(kms, generateMac, { KeyId: key.keyId, MacAlgorithm: 'HMAC_SHA_384' }), 'ValidationException', /message/);
    await expectKmsError(call(kms, verifyMac, { KeyId: key.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_384' }), 'ValidationException', /mac/);
    await expectKmsError(call(kms, generateMac, { KeyId: key.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_384', DryRun: true }), 'DryRunOperationException');
    const symmetric = await newKey(kms);
    await expectKmsError(call(kms, generateMac, { KeyId: symmetric.keyId, Message: b64('m'), MacAlgorithm: 'HMAC_SHA_256' }), 'InvalidKeyUsageException');
  });
});
