import { describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import {
  compilePolicy,
  CompiledPolicyCache,
  CONDITION_KEY_TYPES,
  conditionKeyInfo,
  defaultKeyPolicy,
  evaluatePolicy,
  parsePolicyDocument,
} from '../../../src/core/policy/index.js';

const policy = (sid: string, principal = true) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: sid, Effect: 'Allow', ...(principal ? { Principal: '*' } : {}), Action: 'kms:*', Resource: '*' }],
  });

describe('compilePolicy', () => {
  it('returns the same compiled policy for the same text', () => {
    const text = defaultKeyPolicy({ partition: 'aws', accountId: '111122223333' });
    expect(compilePolicy(text)).toBe(compilePolicy(text));
  });

  it('compiles key and identity policies separately', () => {
    const identity = policy('x', false);
    expect(compilePolicy(identity, { kind: 'identity' }).kind).toBe('identity');
    expect(() => compilePolicy(identity)).toThrow(/missing the required field Principal/);
  });

  it('rethrows the same MalformedPolicyDocumentException for a cached failure', () => {
    const broken = '{"Version":"2012-10-17","Statement":[]}';
    let first: unknown;
    try {
      compilePolicy(broken);
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(KmsError);
    expect(() => compilePolicy(broken)).toThrow(first as Error);
  });

  it('evaluates a parsed document as well as a compiled policy', () => {
    const doc = parsePolicyDocument(policy('x'));
    const facts = { principalArn: 'arn:aws:iam::1:user/a', principalAccountId: '111122223333', partition: 'aws', action: 'kms:Decrypt', resourceArn: '*', context: {} };
    expect(evaluatePolicy(doc, facts, { kind: 'resource', name: 'k' }).allowedDirectly).toBe(true);
  });
});

describe('CompiledPolicyCache', () => {
  it('keeps at most maxEntries, sparing the entries used since they were last considered', () => {
    const cache = new CompiledPolicyCache(3);
    const a = cache.get(policy('a'), 'resource');
    cache.get(policy('b'), 'resource');
    cache.get(policy('c'), 'resource');
    cache.get(policy('a'), 'resource'); // a is used again
    cache.get(policy('d'), 'resource'); // evicts b, the oldest not used since
    expect(cache.size).toBe(3);
    expect(cache.get(policy('a'), 'resource')).toBe(a);
    const b = cache.get(policy('b'), 'resource'); // compiled again
    expect(cache.size).toBe(3);
    expect(cache.get(policy('b'), 'resource')).toBe(b);
  });

  it('keeps at most maxBytes of policy text', () => {
    const cache = new CompiledPolicyCache(1000, 4 * policy('a').length);
    for (const sid of ['a', 'b', 'c', 'd', 'e']) cache.get(policy(sid), 'resource');
    expect(cache.size).toBe(2);
  });

  it('does not keep text over the size limit', () => {
    const cache = new CompiledPolicyCache();
    expect(() => cache.get(' '.repeat(40_000), 'resource')).toThrow(/maximum size/);
    expect(cache.size).toBe(0);
  });
});

describe('CONDITION_KEY_TYPES', () => {
  it('lists every key the issue names', () => {
    for (const name of [
      'kms:EncryptionContext:', 'kms:EncryptionContextKeys', 'kms:CallerAccount', 'kms:ViaService', 'kms:KeySpec', 'kms:KeyUsage',
      'kms:KeyOrigin', 'kms:EncryptionAlgorithm', 'kms:SigningAlgorithm', 'kms:MacAlgorithm', 'kms:MessageType', 'kms:GrantOperations',
      'kms:GranteePrincipal', 'kms:RetiringPrincipal', 'kms:GrantConstraintType', 'kms:GrantIsForAWSResource', 'kms:RequestAlias',
      'kms:ResourceAliases', 'kms:RotationPeriodInDays', 'kms:ScheduleKeyDeletionPendingWindowInDays', 'kms:WrappingAlgorithm',
      'kms:WrappingKeySpec', 'kms:ExpirationModel', 'kms:ValidTo', 'kms:DataKeyPairSpec', 'kms:KeyAgreementAlgorithm', 'aws:PrincipalArn',
      'aws:username', 'aws:CurrentTime', 'aws:EpochTime', 'aws:SourceIp', 'aws:SecureTransport', 'aws:PrincipalTag/', 'aws:ResourceTag/',
      'aws:RequestTag/', 'aws:TagKeys', 'aws:PrincipalAccount',
    ])
      expect(CONDITION_KEY_TYPES[name], name).toBeDefined();
  });

  it.each([
    ['kms:EncryptionContextKeys', 'String', true],
    ['KMS:encryptioncontext:Tenant', 'String', false],
    ['aws:PrincipalTag/team', 'String', false],
    ['kms:GrantOperations', 'String', true],
    ['kms:ResourceAliases', 'String', true],
    ['kms:RotationPeriodInDays', 'Numeric', false],
    ['aws:SourceIp', 'IPAddress', false],
    ['aws:SecureTransport', 'Bool', false],
    ['aws:CurrentTime', 'Date', false],
    ['aws:PrincipalArn', 'ARN', false],
  ])('%s is %s, multivalued: %s', (name, type, multiValued) => {
    expect(conditionKeyInfo(name)).toMatchObject({ type, multiValued });
  });

  it('knows nothing of other keys, nor of a bare prefix', () => {
    expect(conditionKeyInfo('kms:Nonsense')).toBeUndefined();
    expect(conditionKeyInfo('kms:EncryptionContext:')).toBeUndefined();
  });
});

describe('evaluatePolicy', () => {
  it('refuses to read a key policy as an identity policy (it would lose its principals)', () => {
    const facts = { principalArn: 'arn:aws:iam::1:user/a', principalAccountId: '111122223333', partition: 'aws', action: 'kms:Decrypt', resourceArn: '*', context: {} };
    expect(() => evaluatePolicy(compilePolicy(policy('x')), facts, { kind: 'identity', name: 'p' })).toThrow(TypeError);
  });
});
