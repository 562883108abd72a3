import { describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import { parsePolicyDocument, utf8Length } from '../../../src/core/policy/policy-document.js';
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

  it('rejects a key policy over 32 KiB with LimitExceededException, as the AWS API reference says KMS does', () => {
    const big = policy([allow({ Sid: 'x'.repeat(33 * 1024) })]);
    expect(() => parsePolicyDocument(big)).toThrow(expect.objectContaining({ type: 'LimitExceededException', message: 'The key policy exceeds the maximum size of 32768 bytes.' }));
    expect(() => parsePolicyDocument(big, { kind: 'identity' })).toThrow(expect.objectContaining({ type: 'MalformedPolicyDocumentException' }));
  });

  it('accepts case-insensitive condition operator names', () => {
    expect(() => parsePolicyDocument(policy([allow({ Condition: { stringequals: { a: 'b' }, 'foranyvalue:StringLIKE': { c: 'd' } } })]))).not.toThrow();
  });

  it.each([
    ['a partial wildcard in a user ARN', policy([allow({ Principal: { AWS: 'arn:aws:iam::111122223333:user/*' } })]), 'invalid principals'],
    ['a wildcard account in a root ARN', policy([allow({ Principal: { AWS: 'arn:aws:iam::*:root' } })]), 'invalid principals'],
    [
      'ForAllValues on an encryption-context key',
      policy([allow({ Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:tenant': 'a' } } })]),
      'OverlyPermissiveCondition',
    ],
    [
      'ForAllValues on a request tag',
      policy([allow({ Condition: { 'ForAllValues:StringLike': { 'aws:RequestTag/team': 'a*' } } })]),
      'OverlyPermissiveCondition',
    ],
    ['a Null with a qualifier', policy([allow({ Condition: { 'ForAnyValue:Null': { a: 'true' } } })]), 'unknown condition operator'],
    ['NullIfExists', policy([allow({ Condition: { NullIfExists: { a: 'true' } } })]), 'unknown condition operator'],
    ['a nested array as a condition value', policy([allow({ Condition: { StringEquals: { a: [['b']] } } })]), 'needs one or more values'],
    ['an object as an action', policy([allow({ Action: { a: 1 } })]), 'Action must be a string'],
  ])('rejects %s', (_name, text, message) => {
    expect(rejection(text).message).toContain(message);
  });

  it('lets ForAllValues on multivalued keys pass', () => {
    expect(() =>
      parsePolicyDocument(policy([allow({ Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': 'a' } } })])),
    ).not.toThrow();
  });

  describe('identity policies', () => {
    const identity = (statement: Record<string, unknown>) => policy([{ Effect: 'Allow', Action: 'kms:*', Resource: '*', ...statement }]);

    it('parses a statement without a principal', () => {
      const doc = parsePolicyDocument(identity({}), { kind: 'identity' });
      expect(doc.statements[0]).toEqual({ sid: undefined, effect: 'Allow', action: ['kms:*'], resource: ['*'] });
    });

    it.each([['Principal'], ['NotPrincipal']])('rejects %s', (field) => {
      try {
        parsePolicyDocument(identity({ [field]: '*' }), { kind: 'identity' });
        expect.unreachable();
      } catch (error) {
        expect((error as KmsError).type).toBe('MalformedPolicyDocumentException');
        expect((error as KmsError).message).toContain('must not specify a Principal');
        expect((error as KmsError).message).not.toContain('key policy');
      }
    });
  });

  // issue 9 item 3: a 5,000-deep array in Version or Effect gave a RangeError (500).
  describe('deeply nested input', () => {
    const deep = (depth: number): string => '['.repeat(depth) + '"x"' + ']'.repeat(depth);
    const at = (path: string, depth = 5000): string => {
      const statement = `{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`;
      const filled = (field: string) => (path === field ? deep(depth) : undefined);
      const version = filled('Version') ?? '"2012-10-17"';
      const st = path.startsWith('Statement.')
        ? statement.replace(new RegExp(`"${path.slice(10)}":("[^"]*"|\\{[^}]*\\})`), `"${path.slice(10)}":${deep(depth)}`)
        : statement;
      const body = filled('Statement') ?? `[${st}]`;
      return `{"Version":${version},"Id":${filled('Id') ?? '"x"'},"Statement":${body}}`;
    };

    it.each([
      ['Version', 'version is not supported: an array'],
      ['Id', 'Id must be a string'],
      ['Statement', 'Statement 1 must be a JSON object'],
      ['Statement.Effect', 'Effect must be Allow or Deny, not an array'],
      ['Statement.Principal', 'invalid principals'],
      ['Statement.Action', 'Action must be a string'],
      ['Statement.Resource', 'Resource must be a string'],
    ])('a 5,000-deep array in %s is a MalformedPolicyDocumentException', (path, message) => {
      const text = at(path);
      expect(text.length).toBeGreaterThan(10_000);
      expect(rejection(text).message).toContain(message);
    });

    it('a 5,000-deep array as a condition value or a Sid is a MalformedPolicyDocumentException', () => {
      const statement = (extra: string) =>
        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",${extra}}]}`;
      expect(rejection(statement(`"Condition":{"StringEquals":{"k":${deep(5000)}}}`)).message).toContain('needs one or more values');
      expect(rejection(statement(`"Condition":{"StringEquals":${deep(5000)}}`)).message).toContain('must map condition keys');
      expect(rejection(statement(`"Condition":${deep(5000)}`)).message).toContain('Condition must be a JSON object');
      expect(rejection(statement(`"Sid":${deep(5000)}`)).message).toContain('Sid must be a string');
    });

    it('an unsupported field with a huge name is named briefly', () => {
      const message = rejection(policy([allow()], { ['F'.repeat(20_000)]: 1 })).message;
      expect(message.length).toBeLessThan(200);
    });
  });
});


describe('utf8Length', () => {
  it('agrees with Buffer.byteLength on every kind of code unit, lone surrogates included', () => {
    const units = ['a', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '€', '\uffff', '😀', '\ud800', '\udc00', '\udbff\udfff', '\udc00\ud800'];
    for (const a of units) for (const b of units) for (const c of units) expect(utf8Length(a + b + c), JSON.stringify(a + b + c)).toBe(Buffer.byteLength(a + b + c, 'utf8'));
    expect(utf8Length('')).toBe(0);
  });
});
