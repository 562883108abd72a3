import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { enableKey } from '../../../src/core/operations/enable-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

async function state(keyId: string): Promise<unknown> {
  return ((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as { KeyState: string }).KeyState;
}

describe('EnableKey and DisableKey', () => {
  it('disable and enable a key, idempotently, by any reference', async () => {
    const { keyId, arn } = await newKey(kms);
    expect(await call(kms, disableKey, { KeyId: arn })).toEqual({});
    expect(await state(keyId)).toBe('Disabled');
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ Enabled: false });
    await call(kms, disableKey, { KeyId: keyId });
    expect(await state(keyId)).toBe('Disabled');
    expect(await call(kms, enableKey, { KeyId: keyId })).toEqual({});
    expect(await state(keyId)).toBe('Enabled');
    await call(kms, enableKey, { KeyId: keyId });
    expect(await state(keyId)).toBe('Enabled');
  });

  it('refuse a key pending deletion or pending import, writing nothing', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    for (const op of [enableKey, disableKey])
      await expectNoWrite(kms, () => call(kms, op, { KeyId: keyId }), 'KMSInvalidStateException', `${arn} is pending deletion.`);
    const imported = await newKey(kms, { Origin: 'EXTERNAL' });
    for (const op of [enableKey, disableKey])
      await expectNoWrite(kms, () => call(kms, op, { KeyId: imported.keyId }), 'KMSInvalidStateException', 'is pending import.');
  });

  it('return NotFoundException and ValidationException as AWS does', async () => {
    for (const op of [enableKey, disableKey]) {
      await expectKmsError(call(kms, op, { KeyId: 'alias/missing' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
      await expectKmsError(call(kms, op, {}), 'ValidationException', "at 'keyId'");
    }
  });
});
