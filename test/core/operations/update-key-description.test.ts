import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { updateKeyDescription } from '../../../src/core/operations/update-key-description.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError, expectNoWrite, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('UpdateKeyDescription', () => {
  it('replaces the description (also with an empty one), by alias too', async () => {
    const { keyId } = await newKey(kms, { Description: 'old' });
    expect(await call(kms, updateKeyDescription, { KeyId: keyId, Description: 'new' })).toEqual({});
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ Description: 'new' });
    await call(kms, updateKeyDescription, { KeyId: keyId, Description: '' });
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ Description: '' });
    expect((await kms.store.getKey(keyId))!.revision).toBe(3);
  });

  it('validates its input and writes nothing on failure', async () => {
    const { keyId } = await newKey(kms, { Description: 'old' });
    await expectNoWrite(kms, () => call(kms, updateKeyDescription, { KeyId: keyId }), 'ValidationException', "at 'description'");
    await expectNoWrite(
      kms,
      () => call(kms, updateKeyDescription, { KeyId: keyId, Description: 'x'.repeat(8193) }),
      'ValidationException',
      '8192',
    );
    await expectNoWrite(kms, () => call(kms, updateKeyDescription, { KeyId: 'alias/none', Description: 'x' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });

  it('refuses a key pending deletion', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId });
    await expectKmsError(
      call(kms, updateKeyDescription, { KeyId: keyId, Description: 'x' }),
      'KMSInvalidStateException',
      `${arn} is pending deletion.`,
    );
  });
});
