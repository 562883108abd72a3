import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { materialId } from '../../../src/core/key-metadata.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { disableKeyRotation } from '../../../src/core/operations/disable-key-rotation.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { getKeyRotationStatus } from '../../../src/core/operations/get-key-rotation-status.js';
import { listKeyRotations } from '../../../src/core/operations/list-key-rotations.js';
import { rotateKeyOnDemand } from '../../../src/core/operations/rotate-key-on-demand.js';
import { MAX_ON_DEMAND_ROTATIONS } from '../../../src/core/operations/rotation.js';
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

const seconds = (ms: number) => ms / 1000;

describe('EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus', () => {
  it('starts disabled, enables with the default 365 days, re-times, disables', async () => {
    const { keyId, arn } = await newKey(kms);
    expect(await call(kms, getKeyRotationStatus, { KeyId: keyId })).toEqual({ KeyId: arn, KeyRotationEnabled: false });

    const t0 = kms.clock.now().getTime();
    expect(await call(kms, enableKeyRotation, { KeyId: keyId })).toEqual({});
    expect(await call(kms, getKeyRotationStatus, { KeyId: 'alias/none' }).catch((e: Error) => e.name)).toBe('InvalidArnException');
    expect(await call(kms, getKeyRotationStatus, { KeyId: arn })).toEqual({
      KeyId: arn,
      KeyRotationEnabled: true,
      RotationPeriodInDays: 365,
      NextRotationDate: seconds(t0 + 365 * DAY_MS),
    });

    // A new period counts from the last scheduled rotation, not from now.
    kms.clock.advance(10 * DAY_MS);
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    expect(await call(kms, getKeyRotationStatus, { KeyId: keyId })).toMatchObject({
      RotationPeriodInDays: 90,
      NextRotationDate: seconds(t0 + 90 * DAY_MS),
    });

    expect(await call(kms, disableKeyRotation, { KeyId: keyId })).toEqual({});
    expect(await call(kms, getKeyRotationStatus, { KeyId: keyId })).toEqual({ KeyId: arn, KeyRotationEnabled: false });
  });

  it('validates RotationPeriodInDays (90 to 2560) and writes nothing on failure', async () => {
    const { keyId } = await newKey(kms);
    await expectNoWrite(kms, () => call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 89 }), 'ValidationException', "Value '89' at 'rotationPeriodInDays'");
    await expectNoWrite(kms, () => call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 2561 }), 'ValidationException', '2560');
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 2560 });
  });

  it('refuses keys that cannot rotate, and reports them as not rotating', async () => {
    const rsa = await newKey(kms, { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
    const hmac = await newKey(kms, { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const external = await newKey(kms, { Origin: 'EXTERNAL' });
    for (const key of [rsa, hmac, external]) {
      for (const op of [enableKeyRotation, disableKeyRotation, rotateKeyOnDemand])
        await expectNoWrite(kms, () => call(kms, op, { KeyId: key.keyId }), 'UnsupportedOperationException', 'symmetric encryption keys with AWS_KMS origin');
      expect(await call(kms, getKeyRotationStatus, { KeyId: key.keyId })).toMatchObject({ KeyRotationEnabled: false });
    }
    await expectKmsError(call(kms, listKeyRotations, { KeyId: rsa.keyId }), 'UnsupportedOperationException');
  });

  it('refuses disabled keys and keys pending deletion', async () => {
    const { keyId, arn } = await newKey(kms);
    await call(kms, disableKey, { KeyId: keyId });
    for (const op of [enableKeyRotation, disableKeyRotation, rotateKeyOnDemand])
      await expectNoWrite(kms, () => call(kms, op, { KeyId: keyId }), 'DisabledException', `${arn} is disabled.`);
    const other = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: other.keyId });
    for (const op of [enableKeyRotation, disableKeyRotation, rotateKeyOnDemand])
      await expectNoWrite(kms, () => call(kms, op, { KeyId: other.keyId }), 'KMSInvalidStateException', 'pending deletion');
  });
});

describe('RotateKeyOnDemand and ListKeyRotations', () => {
  it('adds a current version, keeps the old one usable and lists the rotation', async () => {
    const { keyId, arn } = await newKey(kms);
    const original = (await kms.store.getKey(keyId))!.currentVersionId!;
    const [v1] = await kms.store.listKeyVersions(keyId);
    const aad = Buffer.alloc(0);
    const oldRef = { id: materialId(keyId, original), keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: v1!.wrappedMaterial };
    const sealed = await kms.backend.encryptSymmetric(oldRef, Buffer.from('before rotation'), aad);

    kms.clock.advance(1000);
    const rotatedAt = kms.clock.now().getTime();
    expect(await call(kms, rotateKeyOnDemand, { KeyId: 'arn:aws:kms:us-east-1:111122223333:key/' + keyId })).toEqual({ KeyId: arn });
    const md = (await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as Record<string, string>;
    expect(md.CurrentKeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    expect(md.CurrentKeyMaterialId).not.toBe(original);

    const versions = await kms.store.listKeyVersions(keyId);
    expect(versions.map((v) => v.rotationType)).toEqual([undefined, 'ON_DEMAND']);
    // The old version still decrypts what it encrypted.
    const again = await kms.store.getKeyVersion(keyId, original);
    const plain = await kms.backend.decryptSymmetric({ ...oldRef, wrapped: again!.wrappedMaterial }, sealed.iv, sealed.ciphertext, aad);
    expect(plain.toString()).toBe('before rotation');

    expect(await call(kms, listKeyRotations, { KeyId: keyId })).toEqual({
      Rotations: [
        { KeyId: keyId, KeyMaterialId: md.CurrentKeyMaterialId, KeyMaterialState: 'CURRENT', RotationDate: rotatedAt / 1000, RotationType: 'ON_DEMAND' },
      ],
      Truncated: false,
    });
    expect(await call(kms, listKeyRotations, { KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' })).toEqual({
      Rotations: [
        { KeyId: keyId, KeyMaterialId: original, KeyMaterialState: 'NON_CURRENT' },
        expect.objectContaining({ KeyMaterialId: md.CurrentKeyMaterialId, KeyMaterialState: 'CURRENT' }),
      ],
      Truncated: false,
    });
  });

  it('does not move the automatic schedule', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: keyId });
    const before = await call(kms, getKeyRotationStatus, { KeyId: keyId });
    await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    expect(await call(kms, getKeyRotationStatus, { KeyId: keyId })).toEqual(before);
  });

  it(`allows ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations, then LimitExceededException`, async () => {
    const { keyId } = await newKey(kms);
    for (let i = 0; i < MAX_ON_DEMAND_ROTATIONS; i++) await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    await expectNoWrite(kms, () => call(kms, rotateKeyOnDemand, { KeyId: keyId }), 'LimitExceededException', `limit of ${MAX_ON_DEMAND_ROTATIONS}`);
    const page1 = await call(kms, listKeyRotations, { KeyId: keyId, Limit: 20 });
    expect(page1.Truncated).toBe(true);
    const page2 = await call(kms, listKeyRotations, { KeyId: keyId, Limit: 20, Marker: page1.NextMarker });
    expect([(page1.Rotations as unknown[]).length, (page2.Rotations as unknown[]).length, page2.Truncated]).toEqual([20, 5, false]);
  });

  it('ListKeyRotations validates its input', async () => {
    const { keyId } = await newKey(kms);
    await expectKmsError(call(kms, listKeyRotations, { KeyId: keyId, IncludeKeyMaterial: 'SOME' }), 'ValidationException', "at 'includeKeyMaterial'");
    await expectKmsError(call(kms, listKeyRotations, { KeyId: keyId, Limit: 1001 }), 'ValidationException');
    await expectKmsError(call(kms, listKeyRotations, { KeyId: keyId, Marker: 'zz' }), 'InvalidMarkerException');
    await expectKmsError(call(kms, listKeyRotations, { KeyId: 'alias/none' }), 'InvalidArnException', 'Key Aliases are not supported for this operation.');
  });
});
