import { describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import { parsePolicyDocument } from '../../../src/core/policy/policy-document.js';
import { defaultKeyPolicy } from '../../../src/core/policy/default-policy.js';

const ROOT = 'arn:aws:iam::111122223333:root';

function policy(statement: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statement, ...extra });
}

function allow(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*', ...fields };
}

function rejection(text: string): KmsError {
  try {
    parsePolicyDocument(text);
  } catch (error) {
    expect(error).toBeInstanceOf(KmsError);
    expect((error as KmsError).type).toBe('MalformedPolicyDocumentException');
    return error as KmsError;
  }
  throw new Error('policy was accepted');
}

describe('parsePolicyDocument', () => {
  it('parses the default key policy into normalised statements', () => {
    const doc = parsePolicyDocument(defaultKeyPolicy({ partition: 'aws', accountId: '111122223333' }));
    expect(doc).toEqual({
      version: '2012-10-17',
      id: 'key-default-1',
      statements: [
        {
          sid: 'Enable IAM User Permissions',
          effect: 'Allow',
          principal: { AWS: [ROOT] },
          action: ['kms:*'],
          resource: ['*'],
        },
      ],
    });
  });

  it('accepts a single statement object, lists, NotAction, Deny and conditions', () => {
    const doc = parsePolicyDocument(
      policy({
        Sid: 'x',
        Effect: 'Deny',
        Principal: '*',
        NotAction: ['kms:Decrypt', 'kms:Describe*'],
        Resource: ['*'],
        Condition: {
          StringEquals: { 'kms:CallerAccount': '111122223333' },
          'ForAnyValue:StringLike': { 'kms:EncryptionContextKeys': ['a*', 'b'] },
          BoolIfExists: { 'aws:SecureTransport': false },
          NumericLessThan: { 'kms:RotationPeriodInDays': 400 },
          Null: { 'kms:GranteePrincipal': 'true' },
        },
      }),
    );
    const s = doc.statements[0]!;
    expect(s.effect).toBe('Deny');
    expect(s.principal).toBe('*');
    expect(s.notAction).toEqual(['kms:Decrypt', 'kms:Describe*']);
    expect(s.condition).toEqual({
      StringEquals: { 'kms:CallerAccount': ['111122223333'] },
      'ForAnyValue:StringLike': { 'kms:EncryptionContextKeys': ['a*', 'b'] },
      BoolIfExists: { 'aws:SecureTransport': ['false'] },
      NumericLessThan: { 'kms:RotationPeriodInDays': ['400'] },
      Null: { 'kms:GranteePrincipal': ['true'] },
    });
  });

  it('accepts account ids, user and role ARNs and service principals', () => {
    const doc = parsePolicyDocument(
      policy([
        allow({ Principal: { AWS: ['111122223333', 'arn:aws:iam::111122223333:user/alice', 'arn:aws:iam::444455556666:role/x'] } }),
        allow({ Principal: { Service: 'logs.us-east-1.amazonaws.com' } }),
      ]),
    );
    expect(doc.statements).toHaveLength(2);
  });

  it.each([
    ['invalid JSON', '{"Version": ', 'not valid JSON'],
    ['a JSON array', '[]', 'must be a JSON object'],
    ['an unknown top-level field', policy([allow()], { Foo: 1 }), 'unsupported field: Foo'],
    ['no Version', JSON.stringify({ Statement: [allow()] }), 'missing the required field Version'],
    ['an unknown Version', policy([allow()], { Version: '2020-01-01' }), 'version is not supported'],
    ['no Statement', JSON.stringify({ Version: '2012-10-17' }), 'missing the required field Statement'],
    ['an empty Statement list', policy([]), 'at least one statement'],
    ['a statement that is not an object', policy(['x']), 'Statement 1 must be a JSON object'],
    ['no Effect', policy([{ Principal: '*', Action: 'kms:*', Resource: '*' }]), 'missing the required field Effect'],
    ['a bad Effect', policy([allow({ Effect: 'Permit' })]), 'Effect must be Allow or Deny'],
    ['no Principal', policy([{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }]), 'missing the required field Principal'],
    ['Principal and NotPrincipal', policy([allow({ NotPrincipal: '*' })]), 'both Principal and NotPrincipal'],
    ['an unknown principal type', policy([allow({ Principal: { Robot: 'x' } })]), 'invalid principals'],
    ['a malformed principal ARN', policy([allow({ Principal: { AWS: 'alice' } })]), 'invalid principals'],
    ['no Action', policy([{ Effect: 'Allow', Principal: '*', Resource: '*' }]), 'missing the required field Action'],
    ['a malformed action', policy([allow({ Action: 'Encrypt' })]), 'invalid action'],
    ['no Resource', policy([{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }]), 'missing the required field Resource'],
    ['a malformed resource', policy([allow({ Resource: 'my-key' })]), 'invalid resource'],
    ['an unknown condition operator', policy([allow({ Condition: { StringIs: { a: 'b' } } })]), 'unknown condition operator StringIs'],
    ['a condition without values', policy([allow({ Condition: { StringEquals: { a: [] } } })]), 'needs one or more values'],
    ['a duplicate Sid', policy([allow({ Sid: 'a' }), allow({ Sid: 'a' })]), 'must be unique'],
    ['an unknown statement field', policy([allow({ Effects: 'Allow' })]), 'unsupported field: Effects'],
  ])('rejects %s', (_name, text, message) => {
    expect(rejection(text).message).toContain(message);
  });

  it('rejects a document over 32 KiB', () => {
    const big = policy([allow({ Sid: 'x'.repeat(33 * 1024) })]);
    expect(rejection(big).message).toContain('maximum size of 32768 bytes');
  });
});
