import { describe, expect, it } from 'vitest';
import { checkPolicyLockout } from '../../../src/core/policy/lockout-check.js';
import { actionMatches } from '../../../src/core/policy/matching.js';
import { parsePolicyDocument } from '../../../src/core/policy/policy-document.js';

const caller = { principalArn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', partition: 'aws' };

function check(statements: unknown[]): void {
  checkPolicyLockout(parsePolicyDocument(JSON.stringify({ Version: '2012-10-17', Statement: statements })), caller);
}

const LOCKOUT = 'The new key policy will not allow you to update the key policy in the future.';

describe('actionMatches', () => {
  it('matches IAM wildcards case-insensitively', () => {
    expect(actionMatches('kms:*', 'kms:PutKeyPolicy')).toBe(true);
    expect(actionMatches('*', 'kms:PutKeyPolicy')).toBe(true);
    expect(actionMatches('kms:Put*', 'kms:PutKeyPolicy')).toBe(true);
    expect(actionMatches('KMS:putkeypolicy', 'kms:PutKeyPolicy')).toBe(true);
    expect(actionMatches('kms:Put?eyPolicy', 'kms:PutKeyPolicy')).toBe(true);
    expect(actionMatches('kms:Get*', 'kms:PutKeyPolicy')).toBe(false);
    expect(actionMatches('kms:PutKey', 'kms:PutKeyPolicy')).toBe(false);
  });
});

describe('checkPolicyLockout', () => {
  it('passes when the account root, the caller, or anyone may put the policy', () => {
    check([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }]);
    check([{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:PutKeyPolicy', Resource: '*' }]);
    check([{ Effect: 'Allow', Principal: { AWS: caller.principalArn }, Action: 'kms:Put*', Resource: '*' }]);
    check([{ Effect: 'Allow', Principal: '*', NotAction: 'kms:Decrypt', Resource: '*' }]);
  });

  it('fails when nobody the caller can act as may put the policy', () => {
    expect(() =>
      check([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/bob' }, Action: 'kms:*', Resource: '*' }]),
    ).toThrow(LOCKOUT);
    expect(() =>
      check([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:Encrypt', Resource: '*' }]),
    ).toThrow(LOCKOUT);
    expect(() =>
      check([{ Effect: 'Allow', Principal: '*', NotAction: 'kms:PutKeyPolicy', Resource: '*' }]),
    ).toThrow(LOCKOUT);
  });

  it('fails when an unconditional Deny forbids it', () => {
    expect(() =>
      check([
        { Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' },
        { Effect: 'Deny', Principal: { AWS: caller.principalArn }, Action: 'kms:PutKeyPolicy', Resource: '*' },
      ]),
    ).toThrow(LOCKOUT);
  });
});
