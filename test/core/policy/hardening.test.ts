/**
 * Issue 9, item 1: policy wildcards must not stall the service. These tests count the
 * evaluator's steps (character comparisons), never wall time: the bound holds on any machine.
 */
import { describe, expect, it } from 'vitest';
import { checkPolicyLockout } from '../../../src/core/policy/lockout-check.js';
import {
  compilePolicy,
  evaluateKeyAccess,
  evaluatePolicy,
  MAX_EVALUATION_STEPS,
  MAX_POLICY_BYTES,
  parsePolicyDocument,
  WorkMeter,
  type RequestFacts,
} from '../../../src/core/policy/index.js';

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function facts(context: RequestFacts['context'] = {}, action = 'kms:PutKeyPolicy'): RequestFacts {
  return { principalArn: ALICE, principalAccountId: '111122223333', partition: 'aws', action, resourceArn: KEY, context };
}

/** Fills a policy with copies of `statement` up to just under 32 KiB. */
function fill(statement: (i: number) => Record<string, unknown>): string {
  const statements: unknown[] = [];
  let text = '';
  for (let i = 0; ; i++) {
    const next = JSON.stringify({ Version: '2012-10-17', Statement: [...statements, statement(i)] });
    if (Buffer.byteLength(next) > MAX_POLICY_BYTES) break;
    statements.push(statement(i));
    text = next;
  }
  return text;
}

const EVIL = `kms:${'*'.repeat(22)}Z`;

describe('the evil policy of issue 9', () => {
  it('is parsed, lockout-checked and evaluated in a handful of steps', () => {
    const text = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: ALICE }, Action: [EVIL, 'kms:PutKeyPolicy'], Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: EVIL, Resource: '*', Condition: { StringLike: { 'kms:ViaService': `${'*'.repeat(22)}Z` } } },
      ],
    });
    expect(() => checkPolicyLockout(parsePolicyDocument(text), { principalArn: ALICE, accountId: '111122223333', partition: 'aws' })).not.toThrow();
    const result = evaluatePolicy(compilePolicy(text), facts({ 'kms:ViaService': 'a'.repeat(4096) }), { kind: 'resource', name: 'k', explain: true });
    expect(result.allowedDirectly).toBe(true);
    expect(result.explicitDeny).toBe(false);
    expect(result.steps).toBeLessThan(200);
  });

  it('a 32 KiB policy of evil action patterns costs steps linear in its size', () => {
    const text = fill((i) => ({ Sid: `s${i}`, Effect: 'Deny', Principal: '*', Action: [`kms:${'*?'.repeat(40)}Z`, EVIL], Resource: '*' }));
    const result = evaluatePolicy(compilePolicy(text), facts({}, `kms:${'Put'.repeat(40)}`), { kind: 'resource', name: 'k' });
    expect(result.explicitDeny).toBe(false);
    expect(result.workLimitExceeded).toBe(false);
    expect(result.steps).toBeLessThan(4 * text.length);
  });

  it('a 32 KiB policy built for worst-case matching is cut off at the budget and fails closed', () => {
    // `*aaa…ab*` against a long run of `a`: every start position compares the whole segment.
    const text = fill((i) => ({
      Sid: `s${i}`,
      Effect: 'Allow',
      Principal: { AWS: ALICE },
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: { StringLike: { 'kms:EncryptionContext:x': `*${'a'.repeat(2000)}b*` } },
    }));
    const meter = new WorkMeter(MAX_EVALUATION_STEPS);
    const result = evaluatePolicy(compilePolicy(text), facts({ 'kms:EncryptionContext:x': 'a'.repeat(8192) }, 'kms:Decrypt'), {
      kind: 'resource',
      name: 'k',
      meter,
    });
    expect(result.workLimitExceeded).toBe(true);
    expect(result.explicitDeny).toBe(true);
    expect(result.allowedDirectly).toBe(false);
    // The meter stops the evaluation within one comparison run of the limit.
    expect(meter.steps).toBeLessThanOrEqual(MAX_EVALUATION_STEPS + 8192);
  });

  it('one authorization shares one budget across the key policy and every identity policy', () => {
    const evil = (kind: 'resource' | 'identity') =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: Array.from({ length: 10 }, (_, i) => ({
          Sid: `s${i}`,
          Effect: 'Allow',
          ...(kind === 'resource' ? { Principal: { AWS: ALICE } } : {}),
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringLike: { 'kms:EncryptionContext:x': `*${'a'.repeat(1000 + i)}b*` } },
        })),
      });
    const meter = new WorkMeter(MAX_EVALUATION_STEPS);
    const decision = evaluateKeyAccess(
      {
        keyPolicy: { name: 'k', policy: compilePolicy(evil('resource')) },
        identityPolicies: Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, policy: compilePolicy(evil('identity').replace('"s0"', `"p${i}"`), { kind: 'identity' }) })),
      },
      facts({ 'kms:EncryptionContext:x': 'a'.repeat(4000) }, 'kms:Decrypt'),
      { meter },
    );
    expect(decision.decision).toBe('ExplicitDeny');
    expect(decision.results.every((r) => r.workLimitExceeded)).toBe(true);
    expect(meter.steps).toBeLessThanOrEqual(MAX_EVALUATION_STEPS + 4000);
  });

  it('a realistic 32 KiB policy uses a small fraction of the budget', () => {
    const text = fill((i) => ({
      Sid: `s${i}`,
      Effect: i % 7 === 0 ? 'Deny' : 'Allow',
      Principal: { AWS: [`arn:aws:iam::111122223333:user/u${i}`, '111122223333'] },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:CallerAccount': '111122223333', [`kms:EncryptionContext:tenant${i}`]: `t${i}` },
        'ForAllValues:StringLike': { 'kms:EncryptionContextKeys': ['tenant*', 'app*'] },
        IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32'] },
      },
    }));
    const result = evaluatePolicy(
      compilePolicy(text),
      facts({ 'kms:CallerAccount': '111122223333', 'kms:EncryptionContextKeys': ['tenant1', 'app'], 'kms:EncryptionContext:tenant1': 't1', 'aws:SourceIp': '10.1.2.3' }, 'kms:Decrypt'),
      { kind: 'resource', name: 'k', explain: true },
    );
    expect(result.workLimitExceeded).toBe(false);
    expect(result.steps).toBeLessThan(MAX_EVALUATION_STEPS / 100);
  });
});
