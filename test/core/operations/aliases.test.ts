import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlias } from '../../../src/core/operations/create-alias.js';
import { deleteAlias } from '../../../src/core/operations/delete-alias.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { listAliases } from '../../../src/core/operations/list-aliases.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { updateAlias } from '../../../src/core/operations/update-alias.js';
import { MAX_ALIASES_PER_KEY } from '../../../src/core/operations/alias-rules.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

const ALIAS_ARN = (name: string) => `arn:aws:kms:us-east-1:111122223333:${name}`;

describe('CreateAlias', () => {
  it('creates an alias for a key id or key ARN, listed with AWS fields', async () => {
    const a = await newKey(kms);
    const created = kms.clock.now().getTime() / 1000;
    expect(await call(kms, createAlias, { AliasName: 'alias/app-1', TargetKeyId: a.keyId })).toEqual({});
    await call(kms, createAlias, { AliasName: 'alias/team:x/app_2', TargetKeyId: a.arn });
    const out = await call(kms, listAliases, {});
    expect(out).toEqual({
      Aliases: [
        { AliasName: 'alias/app-1', AliasArn: ALIAS_ARN('alias/app-1'), TargetKeyId: a.keyId, CreationDate: created, LastUpdatedDate: created },
        { AliasName: 'alias/team:x/app_2', AliasArn: ALIAS_ARN('alias/team:x/app_2'), TargetKeyId: a.keyId, CreationDate: created, LastUpdatedDate: created },
      ],
      Truncated: false,
    });
  });

  it.each([
    // AWS KMS: ValidationException 'Alias must start with the prefix "alias/". Please see …' (was InvalidAliasNameException here).
    ['no alias/ prefix', { AliasName: 'app' }, 'ValidationException', 'Alias must start with the prefix "alias/". Please see'],
    ['only the prefix', { AliasName: 'alias/' }, 'InvalidAliasNameException', 'alias/'],
    ['the reserved alias/aws/ prefix', { AliasName: 'alias/aws/s3' }, 'InvalidAliasNameException', 'reserved'],
    ['characters outside the pattern', { AliasName: 'alias/a b' }, 'ValidationException', "at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    ['a name over 256 characters', { AliasName: `alias/${'a'.repeat(251)}` }, 'ValidationException', '256'],
    ['a missing AliasName', {}, 'ValidationException', "at 'aliasName'"],
    ['an alias as the target', { AliasName: 'alias/new', TargetKeyId: 'alias/existing' }, 'ValidationException', 'not an alias'],
    ['an unknown target key', { AliasName: 'alias/new', TargetKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }, 'NotFoundException', 'does not exist'],
  ] as const)('rejects %s, writing nothing', async (_name, input, type, message) => {
    const { keyId } = await newKey(kms);
    await call(kms, createAlias, { AliasName: 'alias/existing', TargetKeyId: keyId });
    await expectNoWrite(kms, () => call(kms, createAlias, { TargetKeyId: keyId, ...input }), type, message);
  });

  it('refuses a duplicate name with AlreadyExistsException', async () => {
    const a = await newKey(kms);
    const b = await newKey(kms);
    await call(kms, createAlias, { AliasName: 'alias/dup', TargetKeyId: a.keyId });
    await expectNoWrite(
      kms,
      () => call(kms, createAlias, { AliasName: 'alias/dup', TargetKeyId: b.keyId }),
      'AlreadyExistsException',
      `An alias with the name ${ALIAS_ARN('alias/dup')} already exists`,
    );
  });

  it('refuses a key pending deletion', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    await expectNoWrite(kms, () => call(kms, createAlias, { AliasName: 'alias/x', TargetKeyId: keyId }), 'KMSInvalidStateException', `${arn} is pending deletion.`);
  });
});

describe('UpdateAlias', () => {
  it('moves an alias to another key of the same type and usage', async () => {
    const a = await newKey(kms);
    const b = await newKey(kms);
    await call(kms, createAlias, { AliasName: 'alias/app', TargetKeyId: a.keyId });
    kms.clock.advance(5000);
    expect(await call(kms, updateAlias, { AliasName: 'alias/app', TargetKeyId: b.arn })).toEqual({});
    expect((await call(kms, describeKey, { KeyId: 'alias/app' })).KeyMetadata).toMatchObject({ KeyId: b.keyId });
    const [alias] = (await call(kms, listAliases, {})).Aliases as Array<Record<string, number>>;
    expect(alias!.LastUpdatedDate! - alias!.CreationDate!).toBe(5);
  });

  it('refuses a key of another type or usage, a missing alias, and a key pending deletion', async () => {
    const a = await newKey(kms);
    const rsaSign = await newKey(kms, { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    const rsaEnc = await newKey(kms, { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' });
    const hmac = await newKey(kms, { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    await call(kms, createAlias, { AliasName: 'alias/sym', TargetKeyId: a.keyId });
    await call(kms, createAlias, { AliasName: 'alias/rsa', TargetKeyId: rsaSign.keyId });
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/sym', TargetKeyId: hmac.keyId }), 'ValidationException', 'same type and key usage');
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/sym', TargetKeyId: rsaEnc.keyId }), 'ValidationException', 'same type');
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/rsa', TargetKeyId: rsaEnc.keyId }), 'ValidationException', 'key usage');
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/none', TargetKeyId: a.keyId }), 'NotFoundException', `Alias ${ALIAS_ARN('alias/none')} is not found.`);
    const b = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: b.keyId });
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/sym', TargetKeyId: b.keyId }), 'KMSInvalidStateException');
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/sym', TargetKeyId: 'alias/rsa' }), 'ValidationException', 'not an alias');
  });

  it('refuses a key that already has its quota of aliases, as CreateAlias does', async () => {
    const full = await newKey(kms);
    const other = await newKey(kms);
    for (let i = 0; i < MAX_ALIASES_PER_KEY; i++) await call(kms, createAlias, { AliasName: `alias/full-${i}`, TargetKeyId: full.keyId });
    await call(kms, createAlias, { AliasName: 'alias/moving', TargetKeyId: other.keyId });
    await expectNoWrite(kms, () => call(kms, updateAlias, { AliasName: 'alias/moving', TargetKeyId: full.keyId }), 'LimitExceededException', 'already has');
    // Pointing an alias of the full key at that same key again adds none.
    expect(await call(kms, updateAlias, { AliasName: 'alias/full-0', TargetKeyId: full.keyId })).toEqual({});
  });
});

describe('DeleteAlias', () => {
  it('deletes the alias and leaves the key', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, createAlias, { AliasName: 'alias/gone', TargetKeyId: keyId });
    expect(await call(kms, deleteAlias, { AliasName: 'alias/gone' })).toEqual({});
    await expectKmsError(call(kms, describeKey, { KeyId: 'alias/gone' }), 'NotFoundException');
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ KeyState: 'Enabled' });
  });

  it('returns NotFoundException for an unknown alias and validates the name', async () => {
    await expectKmsError(call(kms, deleteAlias, { AliasName: 'alias/none' }), 'NotFoundException', 'is not found');
    await expectKmsError(call(kms, deleteAlias, { AliasName: 'none' }), 'ValidationException', 'Alias must start with the prefix "alias/"');
  });
});

describe('ListAliases', () => {
  it('filters by key and pages with Limit and Marker', async () => {
    const a = await newKey(kms);
    const b = await newKey(kms);
    for (const name of ['alias/a1', 'alias/a2', 'alias/a3']) await call(kms, createAlias, { AliasName: name, TargetKeyId: a.keyId });
    await call(kms, createAlias, { AliasName: 'alias/b1', TargetKeyId: b.keyId });
    const forB = await call(kms, listAliases, { KeyId: b.arn });
    expect((forB.Aliases as Array<{ AliasName: string }>).map((x) => x.AliasName)).toEqual(['alias/b1']);
    const page1 = await call(kms, listAliases, { KeyId: a.keyId, Limit: 2 });
    expect(page1.Truncated).toBe(true);
    const page2 = await call(kms, listAliases, { KeyId: a.keyId, Limit: 2, Marker: page1.NextMarker });
    expect(page2.Truncated).toBe(false);
    const names = [...(page1.Aliases as Array<{ AliasName: string }>), ...(page2.Aliases as Array<{ AliasName: string }>)].map((x) => x.AliasName);
    expect(names).toEqual(['alias/a1', 'alias/a2', 'alias/a3']);
  });

  it('rejects bad limits, markers and unknown keys', async () => {
    await expectKmsError(call(kms, listAliases, { Limit: 101 }), 'ValidationException', 'less than or equal to 100');
    await expectKmsError(call(kms, listAliases, { Marker: 'nonsense' }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listAliases, { KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }), 'NotFoundException');
  });
});
