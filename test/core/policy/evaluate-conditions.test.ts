/**
 * The condition table: every operator family, its negated, `…IfExists`, `Null` and set-qualified
 * forms, policy variables and key-name case, each as (operator, key, policy values, request
 * value) → does the condition hold. The expectations follow the IAM User Guide ("Condition
 * operators", "Creating a condition with multiple keys or values", "Variables and tags") and the
 * AWS KMS Developer Guide ("AWS KMS condition keys"); where a row reproduces a table or example
 * from those pages, its name says so.
 */
import { describe, expect, it } from 'vitest';
import { compilePolicy, evaluatePolicy, type RequestFacts } from '../../../src/core/policy/index.js';

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

type Value = string | string[] | undefined;

/** [row name, operator, condition key, policy value(s), request value (undefined = absent), holds] */
type Row = [string, string, string, string | string[], Value, boolean];

const MISSING = undefined;

const rows: Row[] = [
  // String
  ['StringEquals, equal', 'StringEquals', 'kms:ViaService', 'ec2.us-east-1.amazonaws.com', 'ec2.us-east-1.amazonaws.com', true],
  ['StringEquals is case-sensitive', 'StringEquals', 'kms:ViaService', 'EC2.us-east-1.amazonaws.com', 'ec2.us-east-1.amazonaws.com', false],
  ['StringEquals, absent key', 'StringEquals', 'kms:ViaService', 'ec2.us-east-1.amazonaws.com', MISSING, false],
  ['StringEquals, any of several values', 'StringEquals', 'kms:ViaService', ['a', 'b'], 'b', true],
  ['StringEquals treats * as a character', 'StringEquals', 'kms:RequestAlias', 'alias/*', 'alias/x', false],
  ['StringEquals matches a literal *', 'StringEquals', 'kms:RequestAlias', 'alias/*', 'alias/*', true],
  ['StringEquals on a multivalued key without a set operator', 'StringEquals', 'kms:EncryptionContextKeys', 'a', ['a'], false],
  ['StringNotEquals, equal', 'StringNotEquals', 'kms:ViaService', 'a', 'a', false],
  ['StringNotEquals, different', 'StringNotEquals', 'kms:ViaService', 'a', 'b', true],
  ['StringNotEquals, absent key is true', 'StringNotEquals', 'kms:ViaService', 'a', MISSING, true],
  ['StringNotEquals, equal to one of several', 'StringNotEquals', 'kms:ViaService', ['a', 'b'], 'b', false],
  ['StringNotEquals, none of several', 'StringNotEquals', 'kms:ViaService', ['a', 'b'], 'c', true],
  ['StringNotEquals on a multivalued key without a set operator', 'StringNotEquals', 'kms:EncryptionContextKeys', 'a', ['b'], false],
  ['StringEqualsIgnoreCase', 'StringEqualsIgnoreCase', 'kms:EncryptionContext:AppName', 'ExampleApp', 'exampleapp', true],
  ['StringEqualsIgnoreCase, different', 'StringEqualsIgnoreCase', 'kms:EncryptionContext:AppName', 'ExampleApp', 'OtherApp', false],
  ['StringNotEqualsIgnoreCase, same but case', 'StringNotEqualsIgnoreCase', 'kms:EncryptionContext:AppName', 'ExampleApp', 'EXAMPLEAPP', false],
  ['StringNotEqualsIgnoreCase, different', 'StringNotEqualsIgnoreCase', 'kms:EncryptionContext:AppName', 'ExampleApp', 'x', true],
  ['StringLike with *', 'StringLike', 'kms:RequestAlias', 'alias/*test*', 'alias/my-test-key', true],
  ['StringLike with ?', 'StringLike', 'kms:RequestAlias', 'alias/k?y', 'alias/key', true],
  ['StringLike, ? is exactly one character', 'StringLike', 'kms:RequestAlias', 'alias/k?y', 'alias/ky', false],
  ['StringLike is case-sensitive', 'StringLike', 'kms:RequestAlias', 'alias/Test*', 'alias/test-key', false],
  ['StringLike, ${*} is a literal *', 'StringLike', 'kms:RequestAlias', 'alias/${*}', 'alias/*', true],
  ['StringLike, ${*} is not a wildcard', 'StringLike', 'kms:RequestAlias', 'alias/${*}', 'alias/x', false],
  ['StringLike, ${?} and ${$}', 'StringLike', 'x:q', 'a${?}${$}', 'a?$', true],
  ['StringNotLike, matching', 'StringNotLike', 'kms:RequestAlias', 'alias/test*', 'alias/test1', false],
  ['StringNotLike, not matching', 'StringNotLike', 'kms:RequestAlias', 'alias/test*', 'alias/prod', true],
  ['StringNotLike, absent key is true', 'StringNotLike', 'kms:RequestAlias', 'alias/test*', MISSING, true],

  // Numeric
  ['NumericEquals', 'NumericEquals', 'kms:RotationPeriodInDays', '90', '90', true],
  ['NumericEquals compares numbers, not text', 'NumericEquals', 'kms:RotationPeriodInDays', '90', '90.0', true],
  ['NumericEquals, different', 'NumericEquals', 'kms:RotationPeriodInDays', '90', '91', false],
  ['NumericEquals, not a number', 'NumericEquals', 'kms:RotationPeriodInDays', '90', 'ninety', false],
  ['NumericNotEquals, different', 'NumericNotEquals', 'kms:RotationPeriodInDays', '90', '91', true],
  ['NumericNotEquals, equal', 'NumericNotEquals', 'kms:RotationPeriodInDays', '90', '90', false],
  ['NumericNotEquals, absent key is true', 'NumericNotEquals', 'kms:RotationPeriodInDays', '90', MISSING, true],
  ['NumericLessThan, less', 'NumericLessThan', 'kms:RotationPeriodInDays', '365', '180', true],
  ['NumericLessThan, equal', 'NumericLessThan', 'kms:RotationPeriodInDays', '365', '365', false],
  ['NumericLessThanEquals, equal', 'NumericLessThanEquals', 'kms:RotationPeriodInDays', '365', '365', true],
  ['NumericLessThanEquals, epoch ValidTo (KMS guide example)', 'NumericLessThanEquals', 'kms:ValidTo', '1546257599.0', '1546257000', true],
  ['NumericGreaterThan, greater', 'NumericGreaterThan', 'kms:ScheduleKeyDeletionPendingWindowInDays', '7', '30', true],
  ['NumericGreaterThan, equal', 'NumericGreaterThan', 'kms:ScheduleKeyDeletionPendingWindowInDays', '7', '7', false],
  ['NumericGreaterThanEquals, equal', 'NumericGreaterThanEquals', 'kms:ScheduleKeyDeletionPendingWindowInDays', '30', '30', true],
  ['NumericGreaterThanEquals, decimals', 'NumericGreaterThanEquals', 'kms:ScheduleKeyDeletionPendingWindowInDays', '1.5', '1.25', false],
  ['NumericLessThan, absent key', 'NumericLessThan', 'kms:RotationPeriodInDays', '365', MISSING, false],

  // Date
  ['DateLessThan, ISO 8601', 'DateLessThan', 'aws:CurrentTime', '2030-01-01T00:00:00Z', '2025-06-01T12:00:00Z', true],
  ['DateLessThan, later', 'DateLessThan', 'aws:CurrentTime', '2020-01-01T00:00:00Z', '2025-06-01T12:00:00Z', false],
  ['DateGreaterThan, date only', 'DateGreaterThan', 'aws:CurrentTime', '2020-01-01', '2019-12-31T23:59:59Z', false],
  // Before: 30 February read as 2 March, so a cutoff the author could not have meant held on 1 March.
  ['DateLessThan, a day that does not exist matches nothing', 'DateLessThan', 'aws:CurrentTime', '2026-02-30', '2026-03-01T12:00:00Z', false],
  ['DateGreaterThanEquals, equal instant in another zone', 'DateGreaterThanEquals', 'aws:CurrentTime', '2020-01-01T01:00:00+01:00', '2020-01-01T00:00:00Z', true],
  ['DateEquals, ISO policy vs epoch request', 'DateEquals', 'aws:EpochTime', '2020-01-01T00:00:00Z', '1577836800', true],
  ['DateLessThanEquals, epoch policy vs ISO request', 'DateLessThanEquals', 'aws:CurrentTime', '1577836800', '2020-01-01T00:00:00Z', true],
  ['DateNotEquals, different', 'DateNotEquals', 'aws:CurrentTime', '2020-01-01T00:00:00Z', '2020-01-01T00:00:01Z', true],
  ['DateNotEquals, equal with fractions', 'DateNotEquals', 'aws:CurrentTime', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00Z', false],
  ['DateGreaterThan, not a date', 'DateGreaterThan', 'aws:CurrentTime', '2020-01-01T00:00:00Z', 'yesterday', false],

  // Bool
  ['Bool true', 'Bool', 'aws:SecureTransport', 'true', 'true', true],
  ['Bool, false vs true', 'Bool', 'aws:SecureTransport', 'true', 'false', false],
  ['Bool is case-insensitive', 'Bool', 'aws:SecureTransport', 'True', 'TRUE', true],
  ['Bool, absent key', 'Bool', 'aws:SecureTransport', 'false', MISSING, false],
  ['Bool, not a boolean', 'Bool', 'aws:SecureTransport', 'true', 'yes', false],

  // Binary
  ['BinaryEquals, same bytes', 'BinaryEquals', 'x:blob', 'QmluYXJ5VmFsdWVJbkJhc2U2NA==', 'QmluYXJ5VmFsdWVJbkJhc2U2NA==', true],
  ['BinaryEquals, other bytes', 'BinaryEquals', 'x:blob', 'QmluYXJ5VmFsdWVJbkJhc2U2NA==', 'QmluYXJ5VmFsdWVJbkJhc2U2NQ==', false],

  // IP address
  ['IpAddress in an IPv4 range', 'IpAddress', 'aws:SourceIp', '203.0.113.0/24', '203.0.113.7', true],
  ['IpAddress outside the range', 'IpAddress', 'aws:SourceIp', '203.0.113.0/24', '203.0.114.7', false],
  ['IpAddress, a bare address is /32', 'IpAddress', 'aws:SourceIp', '10.0.0.1', '10.0.0.1', true],
  ['IpAddress, a bare address is /32 (other)', 'IpAddress', 'aws:SourceIp', '10.0.0.1', '10.0.0.2', false],
  ['IpAddress in an IPv6 range (guide example)', 'IpAddress', 'aws:SourceIp', ['203.0.113.0/24', '2001:DB8:1234:5678::/64'], '2001:db8:1234:5678::99', true],
  ['IpAddress, not an address', 'IpAddress', 'aws:SourceIp', '0.0.0.0/0', 'localhost', false],
  ['NotIpAddress, outside', 'NotIpAddress', 'aws:SourceIp', '203.0.113.0/24', '198.51.100.1', true],
  ['NotIpAddress, inside', 'NotIpAddress', 'aws:SourceIp', '203.0.113.0/24', '203.0.113.1', false],
  ['NotIpAddress, absent key is true', 'NotIpAddress', 'aws:SourceIp', '203.0.113.0/24', MISSING, true],

  // ARN
  ['ArnLike, user wildcard', 'ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', ALICE, true],
  ['ArnLike, role does not match user/*', 'ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', 'arn:aws:iam::111122223333:role/x', false],
  ['ArnEquals takes wildcards too', 'ArnEquals', 'aws:PrincipalArn', 'arn:aws:iam::*:user/alice', ALICE, true],
  [
    'ArnLike matches component by component (guide example)',
    'ArnLike',
    'aws:SourceArn',
    'arn:aws:someservice:*:111122223333:finance/*',
    'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt',
    false,
  ],
  [
    'StringLike matches across colons (the same example)',
    'StringLike',
    'aws:SourceArn',
    'arn:aws:someservice:*:111122223333:finance/*',
    'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt',
    true,
  ],
  ['ArnLike, resource keeps its colons', 'ArnLike', 'aws:SourceArn', 'arn:aws:s:r:1:a:b*', 'arn:aws:s:r:1:a:bc:d', true],
  ['ArnLike, not an ARN', 'ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', 'alice', false],
  ['ArnNotLike, matching', 'ArnNotLike', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', ALICE, false],
  ['ArnNotEquals, other account', 'ArnNotEquals', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', 'arn:aws:iam::444455556666:user/alice', true],
  ['ArnNotLike, absent key is true', 'ArnNotLike', 'aws:PrincipalArn', 'arn:aws:iam::111122223333:user/*', MISSING, true],

  // …IfExists
  ['StringEqualsIfExists, absent key', 'StringEqualsIfExists', 'kms:ViaService', 'a', MISSING, true],
  ['StringEqualsIfExists, present and equal', 'StringEqualsIfExists', 'kms:ViaService', 'a', 'a', true],
  ['StringEqualsIfExists, present and different', 'StringEqualsIfExists', 'kms:ViaService', 'a', 'b', false],
  ['StringNotEqualsIfExists, present and equal', 'StringNotEqualsIfExists', 'kms:ViaService', 'a', 'a', false],
  ['NumericLessThanIfExists, absent key', 'NumericLessThanIfExists', 'kms:RotationPeriodInDays', '10', MISSING, true],
  ['BoolIfExists, absent key', 'BoolIfExists', 'aws:SecureTransport', 'false', MISSING, true],
  ['IpAddressIfExists, present outside', 'IpAddressIfExists', 'aws:SourceIp', '10.0.0.0/8', '192.168.0.1', false],
  ['ArnLikeIfExists, absent key', 'ArnLikeIfExists', 'aws:PrincipalArn', 'arn:aws:iam::*:user/*', MISSING, true],

  // Null
  ['Null true, absent key', 'Null', 'kms:EncryptionContextKeys', 'true', MISSING, true],
  ['Null true, present key', 'Null', 'kms:EncryptionContextKeys', 'true', ['a'], false],
  ['Null false, present key', 'Null', 'kms:EncryptionContextKeys', 'false', ['a'], true],
  ['Null false, absent key', 'Null', 'kms:EncryptionContextKeys', 'false', MISSING, false],
  ['Null true, an empty set is null', 'Null', 'kms:EncryptionContextKeys', 'true', [], true],
  ['Null false on a single-valued key', 'Null', 'kms:GranteePrincipal', 'false', ALICE, true],

  // Set operators on multivalued keys
  ['ForAnyValue:StringEquals, one matches', 'ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'a', ['a', 'b'], true],
  ['ForAnyValue:StringEquals, none matches', 'ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'a', ['b', 'c'], false],
  ['ForAnyValue, absent key is false', 'ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'a', MISSING, false],
  ['ForAnyValue, empty set is false', 'ForAnyValue:StringEquals', 'kms:EncryptionContextKeys', 'a', [], false],
  ['ForAllValues:StringEquals, all listed', 'ForAllValues:StringEquals', 'kms:EncryptionContextKeys', ['a', 'b'], ['b', 'a'], true],
  ['ForAllValues:StringEquals, one not listed', 'ForAllValues:StringEquals', 'kms:EncryptionContextKeys', ['a', 'b'], ['a', 'c'], false],
  ['ForAllValues, absent key is true', 'ForAllValues:StringEquals', 'kms:EncryptionContextKeys', 'a', MISSING, true],
  ['ForAllValues, empty set is true', 'ForAllValues:StringEquals', 'kms:EncryptionContextKeys', 'a', [], true],
  ['ForAllValues:StringNotLike, key1:legal (IAM guide table)', 'ForAllValues:StringNotLike', 'aws:TagKeys', 'key1*', ['key1:legal'], false],
  ['ForAllValues:StringNotLike, key1:hr key1:personnel (IAM guide table)', 'ForAllValues:StringNotLike', 'aws:TagKeys', 'key1*', ['key1:hr', 'key1:personnel'], false],
  ['ForAllValues:StringNotLike, key2:audit (IAM guide table)', 'ForAllValues:StringNotLike', 'aws:TagKeys', 'key1*', ['key2:audit'], true],
  ['ForAllValues:StringNotLike, no tag keys (IAM guide table)', 'ForAllValues:StringNotLike', 'aws:TagKeys', 'key1*', MISSING, true],
  ['ForAnyValue:StringNotEquals, one differs', 'ForAnyValue:StringNotEquals', 'kms:GrantOperations', 'Decrypt', ['Decrypt', 'Encrypt'], true],
  ['ForAnyValue:StringNotEquals, none differs', 'ForAnyValue:StringNotEquals', 'kms:GrantOperations', 'Decrypt', ['Decrypt'], false],
  ['ForAnyValue:StringNotEquals, absent key', 'ForAnyValue:StringNotEquals', 'kms:GrantOperations', 'Decrypt', MISSING, false],
  ['ForAllValues:StringNotEquals, absent key', 'ForAllValues:StringNotEquals', 'kms:GrantOperations', 'Decrypt', MISSING, true],
  ['ForAnyValue:StringLike (ResourceAliases)', 'ForAnyValue:StringLike', 'kms:ResourceAliases', 'alias/*Test*', ['alias/a', 'alias/myTestKey'], true],
  ['ForAnyValue:StringEqualsIfExists, absent key', 'ForAnyValue:StringEqualsIfExists', 'kms:ResourceAliases', 'alias/a', MISSING, true],
  ['ForAllValues:StringEqualsIfExists, present, not listed', 'ForAllValues:StringEqualsIfExists', 'kms:ResourceAliases', 'alias/a', ['alias/b'], false],
  ['ForAnyValue on a single string value', 'ForAnyValue:StringEquals', 'kms:ResourceAliases', 'alias/a', 'alias/a', true],
  ['ForAnyValue:NumericLessThan', 'ForAnyValue:NumericLessThan', 'x:numbers', '5', ['9', '3'], true],
  ['ForAllValues:NumericLessThan', 'ForAllValues:NumericLessThan', 'x:numbers', '5', ['9', '3'], false],
  ['ForAnyValue:ArnLike', 'ForAnyValue:ArnLike', 'x:arns', 'arn:aws:iam::*:role/*', [ALICE, 'arn:aws:iam::1:role/r'], true],
  ['ForAnyValue:IpAddress', 'ForAnyValue:IpAddress', 'x:ips', '10.0.0.0/8', ['192.168.0.1', '10.1.2.3'], true],

  // Key names are case-insensitive
  ['condition key name case (KMS guide)', 'StringEquals', 'KMS:ENCRYPTIONCONTEXT:appname', 'ExampleApp', 'ExampleApp', true],
];

/** The request spells encryption-context keys as the KMS guide does, whatever case the policy uses. */
function contextKey(key: string): string {
  return key.toLowerCase() === 'kms:encryptioncontext:appname' ? 'kms:EncryptionContext:AppName' : key;
}

function holds(operator: string, key: string, expected: string | string[], actual: Value, version = '2012-10-17', context: Record<string, Value> = {}): boolean {
  const text = JSON.stringify({
    Version: version,
    Statement: { Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:Decrypt', Resource: '*', Condition: { [operator]: { [key]: expected } } },
  });
  const facts: RequestFacts = {
    principalArn: ALICE,
    principalAccountId: '111122223333',
    partition: 'aws',
    action: 'kms:Decrypt',
    resourceArn: KEY,
    context: { ...context, ...(actual === undefined ? {} : { [contextKey(key)]: actual }) },
  };
  const result = evaluatePolicy(compilePolicy(text), facts, { kind: 'resource', name: 'key-policy', explain: true });
  const conditions = result.statements[0]!.conditions;
  expect(conditions).toHaveLength(1);
  expect(conditions[0]!.result).toBe(result.allowedDirectly);
  return result.allowedDirectly;
}

describe('condition operators', () => {
  it.each(rows)('%s', (_name, operator, key, expected, actual, result) => {
    expect(holds(operator, key, expected, actual)).toBe(result);
  });

  it('covers every base operator, with and without IfExists, and every qualifier', () => {
    const operators = new Set(rows.map((r) => r[1]));
    for (const base of [
      'StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike',
      'NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals', 'NumericGreaterThan', 'NumericGreaterThanEquals',
      'DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals',
      'Bool', 'BinaryEquals', 'IpAddress', 'NotIpAddress', 'ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike', 'Null',
    ])
      expect(operators, base).toContain(base);
    expect([...operators].filter((o) => o.endsWith('IfExists')).length).toBeGreaterThanOrEqual(6);
    expect([...operators].some((o) => o.startsWith('ForAnyValue:'))).toBe(true);
    expect([...operators].some((o) => o.startsWith('ForAllValues:'))).toBe(true);
  });
});

describe('policy variables', () => {
  const tagged = { 'aws:username': 'alice', 'aws:PrincipalTag/team': 'blue' };
  it.each<[string, string, string | string[], Value, Record<string, Value>, boolean]>([
    ['${aws:username} resolves', 'StringEquals', '${aws:username}', 'alice', tagged, true],
    ['${aws:username} resolves (other value)', 'StringEquals', '${aws:username}', 'bob', tagged, false],
    ['variable names are case-insensitive', 'StringEquals', '${AWS:UserName}', 'alice', tagged, true],
    ['a tag variable inside text', 'StringLike', 'team-${aws:PrincipalTag/team}-*', 'team-blue-1', tagged, true],
    ['an absent variable never matches', 'StringEquals', '${aws:PrincipalTag/dept}', 'x', tagged, false],
    ['an absent variable: a negated operator holds (IAM guide)', 'StringNotEquals', '${aws:PrincipalTag/dept}', 'x', tagged, true],
    ['a default value for an absent variable', 'StringEquals', "${aws:PrincipalTag/dept, 'none'}", 'none', tagged, true],
    ['a default value is ignored when present', 'StringEquals', "${aws:PrincipalTag/team, 'none'}", 'blue', tagged, true],
    ['a variable’s text is never a wildcard', 'StringLike', '${aws:PrincipalTag/team}', 'xyz', { 'aws:PrincipalTag/team': 'x*' }, false],
    ['a variable’s text matches itself', 'StringLike', '${aws:PrincipalTag/team}', 'x*', { 'aws:PrincipalTag/team': 'x*' }, true],
    ['a multivalued key is not a variable', 'StringEquals', '${kms:EncryptionContextKeys}', 'a', { 'kms:EncryptionContextKeys': ['a'] }, false],
    ['a variable in an ARN condition', 'ArnLike', 'arn:aws:iam::111122223333:user/${aws:username}', ALICE, tagged, true],
    ['a variable in a Bool condition', 'Bool', '${aws:SecureTransport}', 'true', { 'aws:SecureTransport': 'true' }, true],
    ['no substitution in IpAddress', 'IpAddress', '${aws:SourceIp}', '10.0.0.1', { 'aws:SourceIp': '10.0.0.1' }, false],
    ['an unclosed ${ is literal', 'StringEquals', '${aws:username', '${aws:username', tagged, true],
  ])('%s', (_name, operator, expected, actual, context, result) => {
    const key = operator === 'ArnLike' ? 'x:arn' : operator === 'IpAddress' ? 'aws:SourceIp' : operator === 'Bool' ? 'x:bool' : 'x:key';
    expect(holds(operator, key, expected, actual, '2012-10-17', context)).toBe(result);
  });

  it('variables are literal text in a 2008-10-17 policy', () => {
    expect(holds('StringEquals', 'x:key', '${aws:username}', '${aws:username}', '2008-10-17', { 'aws:username': 'alice' })).toBe(true);
    expect(holds('StringEquals', 'x:key', '${aws:username}', 'alice', '2008-10-17', { 'aws:username': 'alice' })).toBe(false);
  });
});
