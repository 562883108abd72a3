/** Which grants allow which requests: a table of grants × requests × expected decisions. */
import { describe, expect, it } from 'vitest';
import { constraintsHold, grantAllows, grantOperationFor, mayCreateFrom, type GrantRecord } from '../../../src/core/grants/index.js';

const KEY = 'k-1';
const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::111122223333:user/bob';

function grant(overrides: Partial<GrantRecord>): GrantRecord {
  return {
    grantId: 'g'.repeat(64),
    keyId: KEY,
    granteePrincipal: ALICE,
    issuingAccount: 'arn:aws:iam::111122223333:root',
    creatorPrincipal: 'arn:aws:iam::111122223333:user/owner',
    operations: ['Decrypt'],
    creationDate: new Date(0),
    ...overrides,
  };
}

const lookup = (operation: string, context: Record<string, string> = {}, caller = ALICE, keyId = KEY) => ({
  keyId,
  keyArn: `arn:aws:kms:us-east-1:111122223333:key/${keyId}`,
  granteePrincipalArn: caller,
  operation,
  encryptionContext: context,
});

describe('grantAllows', () => {
  const subset = grant({ operations: ['Decrypt', 'DescribeKey', 'GenerateDataKey', 'RetireGrant'], constraints: { encryptionContextSubset: { tenant: 'a' } } });
  const equals = grant({ operations: ['Decrypt', 'Encrypt'], constraints: { encryptionContextEquals: { tenant: 'a', app: 'x' } } });
  const cases: Array<[string, GrantRecord, ReturnType<typeof lookup>, boolean]> = [
    ['listed operation, no constraint', grant({}), lookup('Decrypt'), true],
    ['another operation is not implied', grant({ operations: ['GenerateDataKey'] }), lookup('Encrypt'), false],
    ['ReEncryptFrom does not give ReEncryptTo', grant({ operations: ['ReEncryptFrom'] }), lookup('ReEncryptTo'), false],
    ['Decrypt does not give GenerateDataKey', grant({}), lookup('GenerateDataKey'), false],
    ['another grantee', grant({}), lookup('Decrypt', {}, BOB), false],
    ['another key', grant({}), lookup('Decrypt', {}, ALICE, 'k-2'), false],
    ['subset: exact pairs', subset, lookup('Decrypt', { tenant: 'a' }), true],
    ['subset: more pairs', subset, lookup('GenerateDataKey', { tenant: 'a', extra: '1' }), true],
    ['subset: other value', subset, lookup('Decrypt', { tenant: 'b' }), false],
    ['subset: case matters', subset, lookup('Decrypt', { Tenant: 'a' }), false],
    ['subset: no context', subset, lookup('Decrypt'), false],
    ['subset: DescribeKey ignores the constraint', subset, lookup('DescribeKey'), true],
    ['subset: RetireGrant ignores the constraint', subset, lookup('RetireGrant'), true],
    ['equals: same pairs, any order', equals, lookup('Encrypt', { app: 'x', tenant: 'a' }), true],
    ['equals: one more pair', equals, lookup('Decrypt', { app: 'x', tenant: 'a', more: '1' }), false],
    ['equals: one pair fewer', equals, lookup('Decrypt', { tenant: 'a' }), false],
    ['inherited keys do not count', grant({ constraints: { encryptionContextSubset: { toString: 'x' } } }), lookup('Decrypt', {}), false],
    ['CreateGrant without the requested grant fails closed', grant({ operations: ['CreateGrant', 'Decrypt'] }), lookup('CreateGrant'), false],
  ];
  for (const [name, g, l, expected] of cases)
    it(name, () => {
      expect(grantAllows(g, l, l.operation as never)).toBe(expected);
    });
});

describe('CreateGrant through a grant (parent → child)', () => {
  const parentSubset = grant({ operations: ['CreateGrant', 'Decrypt', 'GenerateDataKey'], constraints: { encryptionContextSubset: { dept: 'IT' } } });
  const parentEquals = grant({ operations: ['CreateGrant', 'Decrypt'], constraints: { encryptionContextEquals: { dept: 'IT' } } });
  const cases: Array<[string, GrantRecord, Parameters<typeof mayCreateFrom>[1], boolean]> = [
    ['a subset of the operations, same constraint', parentSubset, { operations: ['Decrypt'], constraints: { encryptionContextSubset: { dept: 'IT' } } }, true],
    ['an operation the parent lacks', parentSubset, { operations: ['Decrypt', 'Encrypt'], constraints: { encryptionContextSubset: { dept: 'IT' } } }, false],
    ['subset with added pairs (stricter)', parentSubset, { operations: ['CreateGrant'], constraints: { encryptionContextSubset: { dept: 'IT', team: 'a' } } }, true],
    ['subset turned into equals (stricter)', parentSubset, { operations: ['Decrypt'], constraints: { encryptionContextEquals: { dept: 'IT', team: 'a' } } }, true],
    ['subset with pairs removed', parentSubset, { operations: ['Decrypt'], constraints: { encryptionContextSubset: { team: 'a' } } }, false],
    ['no constraint under a constrained parent', parentSubset, { operations: ['Decrypt'] }, false],
    ['equals kept', parentEquals, { operations: ['Decrypt'], constraints: { encryptionContextEquals: { dept: 'IT' } } }, true],
    ['equals turned into subset', parentEquals, { operations: ['Decrypt'], constraints: { encryptionContextSubset: { dept: 'IT' } } }, false],
    ['equals with a pair added', parentEquals, { operations: ['Decrypt'], constraints: { encryptionContextEquals: { dept: 'IT', x: 'y' } } }, false],
    ['unconstrained parent allows any constraint', grant({ operations: ['CreateGrant', 'Decrypt'] }), { operations: ['Decrypt'] }, true],
  ];
  for (const [name, parent, child, expected] of cases)
    it(name, () => {
      expect(mayCreateFrom(parent, child)).toBe(expected);
      expect(grantAllows(parent, { ...lookup('CreateGrant'), requestedGrant: child }, 'CreateGrant')).toBe(expected);
    });
});

describe('grant helpers', () => {
  it('maps IAM actions to grant operations, and nothing else', () => {
    expect(grantOperationFor('kms:Decrypt')).toBe('Decrypt');
    expect(grantOperationFor('kms:ReEncryptFrom')).toBe('ReEncryptFrom');
    expect(grantOperationFor('kms:ListGrants')).toBeUndefined();
    expect(grantOperationFor('kms:PutKeyPolicy')).toBeUndefined();
    expect(grantOperationFor('hsmkms:Decrypt')).toBeUndefined();
  });

  it('treats no constraint as always holding', () => {
    expect(constraintsHold(undefined, {})).toBe(true);
    expect(constraintsHold({ encryptionContextEquals: {} }, {})).toBe(true);
    expect(constraintsHold({ encryptionContextEquals: {} }, { a: 'b' })).toBe(false);
  });
});
