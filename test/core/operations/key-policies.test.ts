import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getKeyPolicy } from '../../../src/core/operations/get-key-policy.js';
import { listKeyPolicies } from '../../../src/core/operations/list-key-policies.js';
import { putKeyPolicy } from '../../../src/core/operations/put-key-policy.js';
import { defaultKeyPolicy } from '../../../src/core/policy/default-policy.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Id: 'custom',
  Statement: [
    { Sid: 'root', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
    {
      Sid: 'app',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::111122223333:user/app' },
      Action: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:tenant': 'a' } },
    },
  ],
});

describe('GetKeyPolicy, PutKeyPolicy, ListKeyPolicies', () => {
  it('returns the default policy, then the one put', async () => {
    const { keyId } = await newKey(kms);
    expect(await call(kms, getKeyPolicy, { KeyId: keyId })).toEqual({ Policy: defaultKeyPolicy(TEST_SETTINGS), PolicyName: 'default' });
    expect(await call(kms, putKeyPolicy, { KeyId: keyId, PolicyName: 'default', Policy: POLICY })).toEqual({});
    expect(await call(kms, getKeyPolicy, { KeyId: keyId, PolicyName: 'default' })).toEqual({ Policy: POLICY, PolicyName: 'default' });
  });

  it('lists the single policy name', async () => {
    const { arn } = await newKey(kms);
    expect(await call(kms, listKeyPolicies, { KeyId: arn })).toEqual({ PolicyNames: ['default'], Truncated: false });
  });

  it.each([
    ['invalid JSON', { Policy: '{' }, 'MalformedPolicyDocumentException', 'not valid JSON'],
    ['an unknown field', { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [], Extra: 1 }) }, 'MalformedPolicyDocumentException', 'unsupported field'],
    ['a document over 32 KiB', { Policy: POLICY.replace('"custom"', JSON.stringify('x'.repeat(33000))) }, 'LimitExceededException', '32768'], // the AWS API reference's exception for an oversized key policy
    ['a missing Policy', {}, 'ValidationException', "at 'policy'"],
    ['another PolicyName', { PolicyName: 'other', Policy: POLICY }, 'NotFoundException', "'default'"],
    [
      'a policy that locks the caller out',
      { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/x' }, Action: 'kms:*', Resource: '*' }] }) },
      'MalformedPolicyDocumentException',
      'will not allow you to update the key policy in the future',
    ],
  ] as const)('PutKeyPolicy rejects %s, writing nothing', async (_name, input, type, message) => {
    const { keyId } = await newKey(kms);
    await expectNoWrite(kms, () => call(kms, putKeyPolicy, { KeyId: keyId, ...input }), type, message);
  });

  it('PutKeyPolicy accepts a lock-out policy with BypassPolicyLockoutSafetyCheck', async () => {
    const { keyId } = await newKey(kms);
    const lockOut = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*' }] });
    await call(kms, putKeyPolicy, { KeyId: keyId, Policy: lockOut, BypassPolicyLockoutSafetyCheck: true });
    expect((await call(kms, getKeyPolicy, { KeyId: keyId })).Policy).toBe(lockOut);
  });

  it('GetKeyPolicy and ListKeyPolicies validate and find keys as AWS does', async () => {
    const { keyId } = await newKey(kms);
    await expectKmsError(call(kms, getKeyPolicy, { KeyId: keyId, PolicyName: 'x y' }), 'ValidationException', "at 'policyName'");
    await expectKmsError(call(kms, getKeyPolicy, { KeyId: 'alias/none' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
    await expectKmsError(call(kms, listKeyPolicies, { KeyId: keyId, Limit: 0 }), 'ValidationException');
    await expectKmsError(call(kms, putKeyPolicy, { KeyId: 'alias/none', Policy: POLICY }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });
});
