import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlias } from '../../../src/core/operations/create-alias.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('DescribeKey', () => {
  it('finds a key by id, key ARN, alias name and alias ARN', async () => {
    const { keyId, arn } = await newKey(kms, { Description: 'd' });
    await call(kms, createAlias, { AliasName: 'alias/app', TargetKeyId: keyId });
    for (const ref of [keyId, arn, 'alias/app', 'arn:aws:kms:us-east-1:111122223333:alias/app']) {
      const out = await call(kms, describeKey, { KeyId: ref });
      expect(out.KeyMetadata).toMatchObject({ KeyId: keyId, Arn: arn, Description: 'd', KeyState: 'Enabled' });
    }
  });

  it('describes a key pending deletion with its deletion date', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    const out = await call(kms, describeKey, { KeyId: keyId });
    expect(out.KeyMetadata).toMatchObject({
      KeyState: 'PendingDeletion',
      Enabled: false,
      DeletionDate: kms.clock.now().getTime() / 1000 + 7 * 86400,
      PendingDeletionWindowInDays: 7,
    });
  });

  it.each([
    ['an unknown id', '1234abcd-12ab-34cd-56ef-1234567890ab', "Key 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"],
    ['an unknown key ARN', 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'does not exist'],
    ['an unknown alias', 'alias/nope', 'Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found.'],
    ['an unknown alias ARN', 'arn:aws:kms:us-east-1:111122223333:alias/nope', 'is not found'],
    // AWS KMS answers a key ARN of another region "Invalid arn <region>" (recorded DescribeKey responses).
    ['a key ARN in another region', 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'Invalid arn eu-west-1'],
    ['a key ARN of another account', 'arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'does not exist'],
  ])('returns NotFoundException for %s', async (_name, ref, message) => {
    await newKey(kms);
    await expectKmsError(call(kms, describeKey, { KeyId: ref }), 'NotFoundException', message);
  });

  it('requires KeyId', async () => {
    await expectKmsError(call(kms, describeKey, {}), 'ValidationException', "Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    await expectKmsError(call(kms, describeKey, { KeyId: '' }), 'ValidationException', 'greater than or equal to 1');
  });
});
