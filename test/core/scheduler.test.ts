import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAlias } from '../../src/core/operations/create-alias.js';
import { cancelKeyDeletion } from '../../src/core/operations/cancel-key-deletion.js';
import { describeKey } from '../../src/core/operations/describe-key.js';
import { disableKey } from '../../src/core/operations/disable-key.js';
import { enableKey } from '../../src/core/operations/enable-key.js';
import { enableKeyRotation } from '../../src/core/operations/enable-key-rotation.js';
import { getKeyRotationStatus } from '../../src/core/operations/get-key-rotation-status.js';
import { listKeyRotations } from '../../src/core/operations/list-key-rotations.js';
import { rotateKeyOnDemand } from '../../src/core/operations/rotate-key-on-demand.js';
import { scheduleKeyDeletion } from '../../src/core/operations/schedule-key-deletion.js';
import { startScheduler, type Scheduler } from '../../src/core/scheduler.js';
import { createTestKms, type TestKms } from '../support/kms-deps.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';
import { call, DAY_MS, expectKmsError, newKey } from './operations/management-support.js';

const SERVICE = { type: 'AWSService', invokedBy: 'kms.amazonaws.com' };
/** What the scheduler put in the audit trail (the calls the tests made themselves are the caller's). */
const serviceEvents = () => kms.audit.filter((e) => e.actor !== undefined);

let kms: TestKms;
let logs: LogLine[];
let scheduler: Scheduler;
beforeEach(async () => {
  kms = await createTestKms();
  logs = [];
  // A long interval: these tests drive the passes themselves with runOnce().
  scheduler = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000 });
});
afterEach(async () => {
  await scheduler.stop();
  await kms.close();
});

describe('scheduler: key deletion', () => {
  it('destroys a key with its versions, aliases and tags once its deletion date has passed', async () => {
    const { keyId } = await newKey(kms, { Tags: [{ TagKey: 't', TagValue: 'v' }] });
    const survivor = await newKey(kms);
    await call(kms, createAlias, { AliasName: 'alias/doomed', TargetKeyId: keyId });
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });

    kms.clock.advance(7 * DAY_MS - 1);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'PendingDeletion' });

    kms.clock.advance(1);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toBeUndefined();
    expect(await kms.store.listKeyVersions(keyId)).toEqual([]);
    expect(await kms.store.getTags(keyId)).toEqual([]);
    expect(await kms.store.getAlias('alias/doomed')).toBeUndefined();
    await expectKmsError(call(kms, describeKey, { KeyId: keyId }), 'NotFoundException');
    expect(await kms.store.getKey(survivor.keyId)).toMatchObject({ keyState: 'Enabled' });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'info', obj: { keyId }, msg: 'key deleted after its waiting period' }));
    // In the audit trail once, as the service's own work.
    const arn = `arn:aws:kms:${kms.deps.settings.region}:${kms.deps.settings.accountId}:key/${keyId}`;
    expect(serviceEvents()).toEqual([
      expect.objectContaining({ eventName: 'DeleteKey', principalArn: 'kms.amazonaws.com', actor: SERVICE, resources: [arn], additionalEventData: { keyMaterialIds: [expect.stringMatching(/^[0-9a-f]{64}$/)] } }),
    ]);
  });

  it('destroys the token object of an Ed25519 key with it (the only copy of its material)', async () => {
    const { keyId } = await newKey(kms, { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' });
    const [version] = await kms.store.listKeyVersions(keyId);
    const material = (id: string) => ({ id, keySpec: 'ECC_NIST_EDWARDS25519' as const, wrapped: version!.wrappedMaterial });
    await expect(kms.backend.sign(material(`${keyId}-before`), 'ED25519_SHA_512', Buffer.from('m'), 'RAW')).resolves.toHaveLength(64);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    kms.clock.advance(7 * DAY_MS);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toBeUndefined();
    // A handle the backend never had before: the token is searched again and holds no such object.
    await expect(kms.backend.sign(material(`${keyId}-after`), 'ED25519_SHA_512', Buffer.from('m'), 'RAW')).rejects.toMatchObject({ code: 'ERR_KEY_MATERIAL_MISSING' });
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('keeps a key whose deletion was cancelled before it was due', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    kms.clock.advance(6 * DAY_MS);
    await call(kms, cancelKeyDeletion, { KeyId: keyId });
    kms.clock.advance(30 * DAY_MS);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'Disabled' });
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(1);
    expect(serviceEvents()).toEqual([]);
  });

  it('runs on its own timer', async () => {
    const own = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 20 });
    try {
      const { keyId } = await newKey(kms);
      await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
      kms.clock.advance(8 * DAY_MS);
      await vi.waitFor(async () => expect(await kms.store.getKey(keyId)).toBeUndefined(), { timeout: 5000, interval: 20 });
    } finally {
      await own.stop();
    }
  });
});

describe('scheduler: automatic rotation', () => {
  it('rotates when due, makes the new version current and moves the schedule on', async () => {
    const { keyId } = await newKey(kms);
    const t0 = kms.clock.now().getTime();
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    const original = (await kms.store.getKey(keyId))!.currentVersionId;

    kms.clock.advance(90 * DAY_MS - 1);
    await scheduler.runOnce();
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(1);

    kms.clock.advance(1);
    await scheduler.runOnce();
    const versions = await kms.store.listKeyVersions(keyId);
    expect(versions.map((v) => v.rotationType)).toEqual([undefined, 'AUTOMATIC']);
    const key = (await kms.store.getKey(keyId))!;
    expect(key.currentVersionId).toBe(versions[1]!.versionId);
    expect(key.currentVersionId).not.toBe(original);
    expect(await call(kms, getKeyRotationStatus, { KeyId: keyId })).toMatchObject({ NextRotationDate: (t0 + 180 * DAY_MS) / 1000 });
    expect((await call(kms, listKeyRotations, { KeyId: keyId })).Rotations).toEqual([
      expect.objectContaining({ RotationType: 'AUTOMATIC', RotationDate: (t0 + 90 * DAY_MS) / 1000, KeyMaterialState: 'CURRENT' }),
    ]);

    // Not due again until the next period.
    await scheduler.runOnce();
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(2);
    expect(serviceEvents()).toEqual([
      expect.objectContaining({ eventName: 'RotateKey', actor: SERVICE, additionalEventData: { rotationType: 'AUTOMATIC', keyMaterialId: key.currentVersionId } }),
    ]);
  });

  it('audits a failed rotation with its error, and retries it', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    kms.clock.advance(90 * DAY_MS);
    const spy = vi.spyOn(kms.backend, 'generateKeyMaterial').mockRejectedValueOnce(new Error('device gone'));
    try {
      await scheduler.runOnce();
    } finally {
      spy.mockRestore();
    }
    expect(serviceEvents()).toEqual([expect.objectContaining({ eventName: 'RotateKey', errorCode: 'KMSInternalException', errorMessage: 'device gone' })]);
    // Not again before its backoff (30 s after the first failure) has passed.
    kms.clock.advance(29_999);
    await scheduler.runOnce();
    expect(serviceEvents()).toHaveLength(1);
    kms.clock.advance(1);
    await scheduler.runOnce();
    expect(serviceEvents().map((e) => [e.eventName, e.errorCode])).toEqual([
      ['RotateKey', 'KMSInternalException'],
      ['RotateKey', undefined],
    ]);
  });

  it('backs off a key whose work keeps failing: 30 s, then doubling, each failure audited once', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    kms.clock.advance(90 * DAY_MS);
    const generate = kms.backend.generateKeyMaterial.bind(kms.backend);
    const start = kms.clock.now().getTime();
    const attempts: number[] = [];
    let healthy = false;
    const spy = vi.spyOn(kms.backend, 'generateKeyMaterial').mockImplementation((spec) => {
      attempts.push(kms.clock.now().getTime() - start);
      return healthy ? generate(spec) : Promise.reject(new Error('device busy'));
    });
    const rotations = () => serviceEvents().filter((e) => e.eventName === 'RotateKey');
    try {
      // A pass every 10 s for 4 minutes: attempts at 0, 30, 90 and 210 s (30, 60, 120 s apart).
      for (let t = 0; t < 250_000; t += 10_000) {
        await scheduler.runOnce();
        kms.clock.advance(10_000);
      }
      expect(attempts).toEqual([0, 30_000, 90_000, 210_000]);
      expect(rotations().map((e) => e.errorCode)).toEqual(Array(4).fill('KMSInternalException'));
      // The device is back: the next attempt, 240 s after the last, rotates the key.
      healthy = true;
      kms.clock.advance(start + 449_999 - kms.clock.now().getTime());
      await scheduler.runOnce();
      expect(attempts).toHaveLength(4);
      kms.clock.advance(1);
      await scheduler.runOnce();
      expect(attempts).toEqual([0, 30_000, 90_000, 210_000, 450_000]);
      expect(rotations().at(-1)).toMatchObject({ additionalEventData: { rotationType: 'AUTOMATIC' } });
      expect(rotations().at(-1)!.errorCode).toBeUndefined();
      expect((await kms.store.getKey(keyId))!.nextRotationDate!.getTime()).toBeGreaterThan(kms.clock.now().getTime());
    } finally {
      spy.mockRestore();
    }
  });

  it('a clock set back does not stretch a key\'s backoff by the jump', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    kms.clock.advance(91 * DAY_MS);
    const generate = kms.backend.generateKeyMaterial.bind(kms.backend);
    let attempts = 0;
    let healthy = false;
    const spy = vi.spyOn(kms.backend, 'generateKeyMaterial').mockImplementation((spec) => {
      attempts++;
      return healthy ? generate(spec) : Promise.reject(new Error('device busy'));
    });
    try {
      await scheduler.runOnce();
      expect(attempts).toBe(1);
      // The clock is stepped back 3 hours (NTP, a VM restored): the key is tried at once, not 3 h 30 s on.
      healthy = true;
      kms.clock.advance(-3 * 3_600_000);
      await scheduler.runOnce();
      expect(attempts).toBe(2);
      expect((await kms.store.getKey(keyId))!.nextRotationDate!.getTime()).toBeGreaterThan(kms.clock.now().getTime());
    } finally {
      spy.mockRestore();
    }
  });

  /**
   * A key with rotation on, and `count` keys created just before it (ids `<prefix>000000-…`) due
   * for rotation at the same time, 90 days on; the first `count` rotations fail. Returns the key
   * and a check that every older key's rotation failed and only that key rotated.
   */
  async function failingRotationsBefore(count: number, prefix: string) {
    const behind = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: behind.keyId, RotationPeriodInDays: 90 });
    const template = (await kms.store.getKey(behind.keyId))!;
    for (let i = 0; i < count; i++) {
      const keyId = `${prefix}000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      await kms.store.insertKey({ ...template, keyId, arn: template.arn.replace(behind.keyId, keyId), creationDate: new Date(template.creationDate.getTime() - 1_000 + i) });
    }
    kms.clock.advance(90 * DAY_MS);
    const generate = kms.backend.generateKeyMaterial.bind(kms.backend);
    let calls = 0;
    const spy = vi.spyOn(kms.backend, 'generateKeyMaterial').mockImplementation((spec) => (++calls <= count ? Promise.reject(new Error('device busy')) : generate(spec)));
    return {
      restore: () => spy.mockRestore(),
      async expectOnlyBehindRotated() {
        const rotations = serviceEvents().filter((e) => e.eventName === 'RotateKey');
        expect(rotations.filter((e) => e.errorCode !== undefined)).toHaveLength(count);
        expect(rotations.filter((e) => e.errorCode === undefined).map((e) => JSON.stringify(e))).toEqual([expect.stringContaining(behind.keyId)]);
        expect((await kms.store.getKey(behind.keyId))!.currentVersionId).not.toBe(template.currentVersionId);
      },
    };
  }

  it('goes past keys whose work keeps failing: a full batch of them does not keep a key behind them waiting', async () => {
    // 500 (one batch) older keys due for rotation, each of whose rotations fails.
    const keys = await failingRotationsBefore(500, '0f');
    try {
      await scheduler.runOnce();
    } finally {
      keys.restore();
    }
    await keys.expectOnlyBehindRotated();
  });

  it('resumes after the keys a pass had time for: more failing keys than one pass examines do not starve the key behind them', async () => {
    // A pass examines 2 batches of 5 keys here (500 × 20 in production): 12 failing keys fill it.
    const small = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000, batchSize: 5, maxBatches: 2 });
    const keys = await failingRotationsBefore(12, '0e');
    try {
      // The first pass has time for 10 of the failing keys; the second goes on from there.
      await small.runOnce();
      await small.runOnce();
    } finally {
      keys.restore();
      await small.stop();
    }
    await keys.expectOnlyBehindRotated();
  });

  it('does not rotate a disabled key; rotates it once re-enabled', async () => {
    const { keyId } = await newKey(kms);
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
    await call(kms, disableKey, { KeyId: keyId });
    kms.clock.advance(200 * DAY_MS);
    await scheduler.runOnce();
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(1);
    await call(kms, enableKey, { KeyId: keyId });
    await scheduler.runOnce();
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(2);
    // Overdue by more than a period: the next rotation is a full period from now, not a catch-up.
    expect((await kms.store.getKey(keyId))!.nextRotationDate!.getTime()).toBe(kms.clock.now().getTime() + 90 * DAY_MS);
  });
});

describe('scheduler: imported key material expiry', () => {
  it('deletes expired imported material and returns the key to PendingImport', async () => {
    const { keyId } = await newKey(kms, { Origin: 'EXTERNAL' });
    // Stand in for ImportKeyMaterial: real material from the backend, an expiring import.
    const material = await kms.backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const versionId = 'a'.repeat(64);
    const validTo = new Date(kms.clock.now().getTime() + DAY_MS);
    await kms.store.transaction(async (tx) => {
      const key = (await tx.getKey(keyId))!;
      await tx.insertKeyVersion({ keyId, versionId, createdAt: kms.clock.now(), wrappedMaterial: material.wrapped });
      await tx.updateKey({
        ...key,
        keyState: 'Enabled',
        currentVersionId: versionId,
        expirationModel: 'KEY_MATERIAL_EXPIRES',
        validTo,
        revision: key.revision + 1,
      });
    });
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'Enabled' });

    kms.clock.advance(DAY_MS);
    await scheduler.runOnce();
    const md = (await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    expect(md.KeyState).toBe('PendingImport');
    // Expiry deletes the material as DeleteImportedKeyMaterial does (AWS developer guide), and AWS
    // KMS's DescribeKey after that deletion keeps the CurrentKeyMaterialId (recorded).
    expect(md.CurrentKeyMaterialId).toBe(versionId);
    expect(md.ValidTo).toBeUndefined();
    expect(await kms.store.listKeyVersions(keyId)).toEqual([]);
    // The key remembers which material it had, so only that material can be imported again.
    expect((await kms.store.getKey(keyId))!.currentVersionId).toBe(versionId);
    expect(serviceEvents()).toEqual([
      expect.objectContaining({ eventName: 'DeleteExpiredKeyMaterial', actor: SERVICE, additionalEventData: { keyMaterialIds: [versionId] } }),
    ]);
  });
});

describe('scheduler: imported key material expiring while the key is pending deletion', () => {
  it('leaves the key pending deletion; CancelKeyDeletion then makes it PendingImport, not Disabled without material', async () => {
    const { keyId } = await newKey(kms, { Origin: 'EXTERNAL' });
    const material = await kms.backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const versionId = 'f'.repeat(64);
    const now = kms.clock.now();
    const validTo = new Date(now.getTime() + DAY_MS);
    await kms.store.transaction(async (tx) => {
      const key = (await tx.getKey(keyId))!;
      await tx.insertKeyVersion({ keyId, versionId, createdAt: now, wrappedMaterial: material.wrapped });
      await tx.putImportedMaterial({ keyId, versionId, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo, pendingRotation: false, importedAt: now });
      await tx.updateKey({ ...key, keyState: 'Enabled', currentVersionId: versionId, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo, revision: key.revision + 1 });
    });
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    kms.clock.advance(DAY_MS);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'PendingDeletion', currentVersionId: versionId });
    expect(await kms.store.listKeyVersions(keyId)).toEqual([]);
    await call(kms, cancelKeyDeletion, { KeyId: keyId });
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'PendingImport' });
    await expectKmsError(call(kms, enableKey, { KeyId: keyId }), 'KMSInvalidStateException');
  });
});

/**
 * Stands in for two ImportKeyMaterial calls: an Enabled EXTERNAL key with current material that
 * never expires and material pending rotation that expires in a day. The key record carries
 * `keyExpirationModel`, and the pending material's ValidTo when `keyValidTo` (as written before 0022).
 */
async function withPendingMaterial(keyExpirationModel: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE', keyValidTo: boolean) {
  const { keyId } = await newKey(kms, { Origin: 'EXTERNAL' });
  const [current, pending] = ['c'.repeat(64), 'd'.repeat(64)];
  const now = kms.clock.now();
  const validTo = new Date(now.getTime() + DAY_MS);
  await kms.store.transaction(async (tx) => {
    const key = (await tx.getKey(keyId))!;
    for (const versionId of [current, pending]) {
      const material = await kms.backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
      await tx.insertKeyVersion({ keyId, versionId, createdAt: now, wrappedMaterial: material.wrapped });
    }
    await tx.putImportedMaterial({ keyId, versionId: current, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', pendingRotation: false, importedAt: now });
    await tx.putImportedMaterial({ keyId, versionId: pending, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo, pendingRotation: true, importedAt: now });
    await tx.updateKey({ ...key, keyState: 'Enabled', currentVersionId: current, expirationModel: keyExpirationModel, validTo: keyValidTo ? validTo : undefined, revision: key.revision + 1 });
  });
  return { keyId, current, pending };
}

describe('imported material pending rotation past its ValidTo, before the scheduler deletes it', () => {
  it('is no material to rotate to: RotateKeyOnDemand refuses, and the key keeps its current material', async () => {
    const { keyId, current } = await withPendingMaterial('KEY_MATERIAL_DOES_NOT_EXPIRE', false);
    kms.clock.advance(DAY_MS);
    // AWS deletes expired material at its ValidTo; rotating to it would leave the key with expired current material (PendingImport at the next pass).
    await expectKmsError(call(kms, rotateKeyOnDemand, { KeyId: keyId }), 'UnsupportedOperationException');
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'Enabled', currentVersionId: current });
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toMatchObject({ keyState: 'Enabled', currentVersionId: current });
  });
});

describe('scheduler: expiry of one of several imported materials', () => {
  // The key's own ExpirationModel and ValidTo leave out material pending rotation (AWS's KeyMetadata.ValidTo);
  // keys written before that carry the pending material's ValidTo. Either way its expiry is due.
  it.each([
    ['the key not expiring (as ImportKeyMaterial writes it)', 'KEY_MATERIAL_DOES_NOT_EXPIRE', false],
    ["the key carrying the pending material's ValidTo (as written before)", 'KEY_MATERIAL_EXPIRES', true],
  ] as const)('expires only the material past its ValidTo; one pending rotation is forgotten and the key stays usable (%s)', async (_, keyExpirationModel, keyValidTo) => {
    const { keyId, current, pending } = await withPendingMaterial(keyExpirationModel, keyValidTo);
    kms.clock.advance(DAY_MS);
    await scheduler.runOnce();
    const after = await kms.store.getKey(keyId);
    expect(after).toMatchObject({ keyState: 'Enabled', currentVersionId: current, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    expect(after?.validTo).toBeUndefined();
    expect((await kms.store.listKeyVersions(keyId)).map((v) => v.versionId)).toEqual([current]);
    expect((await call(kms, listKeyRotations, { KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' })).Rotations).toEqual([
      { KeyId: keyId, KeyMaterialId: current, ImportState: 'IMPORTED', KeyMaterialState: 'CURRENT', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ]);
    expect(serviceEvents()).toEqual([expect.objectContaining({ eventName: 'DeleteExpiredKeyMaterial', additionalEventData: { keyMaterialIds: [pending] } })]);
  });
});

describe('scheduler: expired approval requests', () => {
  it('removes them and audits how many', async () => {
    const now = kms.clock.now();
    await kms.store.insertApprovalRequest({
      requestId: 'expired-1',
      requesterArn: 'arn:aws:iam::111122223333:user/someone',
      operation: 'ScheduleKeyDeletion',
      action: 'kms:ScheduleKeyDeletion',
      parametersHash: 'ab'.repeat(32),
      parameters: '{}',
      requirements: [],
      status: 'Pending',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
      votes: [],
    });
    await scheduler.runOnce();
    expect(serviceEvents()).toEqual([]);
    kms.clock.advance(3_600_000);
    await scheduler.runOnce();
    expect(await kms.store.getApprovalRequest('expired-1')).toBeUndefined();
    expect(serviceEvents()).toEqual([expect.objectContaining({ eventName: 'DeleteExpiredApprovalRequests', actor: SERVICE, resources: [], additionalEventData: { count: 1 } })]);
  });
});

describe('scheduler: several nodes', () => {
  it('rotates a due key once when two nodes run the same pass at the same time', async () => {
    const other = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000 });
    try {
      const { keyId } = await newKey(kms);
      await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
      kms.clock.advance(90 * DAY_MS);
      await Promise.all([scheduler.runOnce(), other.runOnce(), scheduler.runOnce()]);
      const versions = await kms.store.listKeyVersions(keyId);
      expect(versions.map((v) => v.rotationType)).toEqual([undefined, 'AUTOMATIC']);
      expect(logs.filter((l) => l.msg === 'key rotated automatically')).toHaveLength(1);
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('does no work on a node that does not hold the lease, and stops between jobs when it loses it', async () => {
    let held = false;
    let checks = 0;
    const lease = {
      acquire: async () => held,
      stillHeld: async () => held && ++checks <= 1,
      release: async () => undefined,
    };
    const follower = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000, lease });
    try {
      const a = await newKey(kms);
      const b = await newKey(kms);
      for (const { keyId } of [a, b]) await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
      kms.clock.advance(8 * DAY_MS);
      await follower.runOnce();
      expect(await kms.store.getKey(a.keyId)).toBeDefined();
      expect(await kms.store.getKey(b.keyId)).toBeDefined();

      // Leader for one job, then the lease is gone: one key deleted, the other left for the next leader.
      held = true;
      await follower.runOnce();
      const left = [await kms.store.getKey(a.keyId), await kms.store.getKey(b.keyId)].filter(Boolean);
      expect(left).toHaveLength(1);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/lease lost/) }));
    } finally {
      await follower.stop();
    }
  });
});
