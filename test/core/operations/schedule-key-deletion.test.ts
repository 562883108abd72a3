import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cancelKeyDeletion } from '../../../src/core/operations/cancel-key-deletion.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, DAY_MS, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('ScheduleKeyDeletion', () => {
  it('defaults to a 30-day window and answers with the key ARN', async () => {
    const { keyId, arn } = await newKey(kms);
    const out = await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    expect(out).toEqual({
      KeyId: arn,
      DeletionDate: (kms.clock.now().getTime() + 30 * DAY_MS) / 1000,
      KeyState: 'PendingDeletion',
      PendingWindowInDays: 30,
    });
  });

  it('accepts 7 to 30 days and rejects the rest without writing', async () => {
    const { keyId } = await newKey(kms);
    await expectNoWrite(kms, () => call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 6 }), 'ValidationException', "Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7");
    await expectNoWrite(kms, () => call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 31 }), 'ValidationException', 'less than or equal to 30');
    const out = await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    expect(out.PendingWindowInDays).toBe(7);
  });

  it('refuses a key already pending deletion', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    await expectNoWrite(kms, () => call(kms, scheduleKeyDeletion, { KeyId: keyId }), 'KMSInvalidStateException', `${arn} is pending deletion.`);
  });

  it('schedules disabled and pending-import keys too', async () => {
    const imported = await newKey(kms, { Origin: 'EXTERNAL' });
    expect((await call(kms, scheduleKeyDeletion, { KeyId: imported.keyId })).KeyState).toBe('PendingDeletion');
  });

  it('returns NotFoundException for an unknown key', async () => {
    await expectKmsError(call(kms, scheduleKeyDeletion, { KeyId: 'alias/none' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });
});

describe('CancelKeyDeletion', () => {
  it('leaves the key Disabled, as AWS does, and clears the deletion date', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    expect(await call(kms, cancelKeyDeletion, { KeyId: keyId })).toEqual({ KeyId: arn });
    const md = (await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    expect(md.KeyState).toBe('Disabled');
    expect(md.DeletionDate).toBeUndefined();
    expect(md.PendingDeletionWindowInDays).toBeUndefined();
  });

  it('returns a key without material to PendingImport', async () => {
    const { keyId } = await newKey(kms, { Origin: 'EXTERNAL' });
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    await call(kms, cancelKeyDeletion, { KeyId: keyId });
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ KeyState: 'PendingImport' });
  });

  it('refuses a key that is not pending deletion', async () => {
    const { keyId, arn } = await newKey(kms);
    await expectNoWrite(kms, () => call(kms, cancelKeyDeletion, { KeyId: keyId }), 'KMSInvalidStateException', `${arn} is not pending deletion.`);
    await expectKmsError(call(kms, cancelKeyDeletion, { KeyId: 'alias/none' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });
});
