/**
 * A deleted Ed25519 key's token object whose destruction fails (the HSM answers C_DestroyObject
 * with CKR_DEVICE_ERROR, from the PKCS#11 interposer: cloudhsm project only) is not left in the
 * token for good: the destruction stays recorded and later scheduler passes try it again, with
 * backoff, until pkcs11-tool no longer lists the object.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DAY_MS, call, newKey } from './operations/management-support.js';
import { scheduleKeyDeletion } from '../../src/core/operations/schedule-key-deletion.js';
import { destroyRecorded } from '../../src/core/material-destruction.js';
import { startScheduler, type Scheduler } from '../../src/core/scheduler.js';
import { createTestKms, type TestKms } from '../support/kms-deps.js';
import { interposerControl } from '../support/interposer.js';
import { tokenHoldsObject } from './material-destruction-support.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';

const control = interposerControl();
afterAll(() => control.dispose());

let kms: TestKms;
let logs: LogLine[];
let scheduler: Scheduler;
beforeEach(async () => {
  kms = await createTestKms();
  logs = [];
  scheduler = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000 });
});
afterEach(async () => {
  control.set([]);
  await scheduler.stop();
  await kms.close();
});

const destructionErrors = () => logs.filter((l) => l.level === 'error' && /could not be destroyed/.test(l.msg ?? ''));

async function deletedEd25519Key(): Promise<{ keyId: string; versionId: string; wrapped: Uint8Array }> {
  const { keyId } = await newKey(kms, { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' });
  const [version] = await kms.store.listKeyVersions(keyId);
  await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
  kms.clock.advance(7 * DAY_MS);
  return { keyId, versionId: version!.versionId, wrapped: version!.wrappedMaterial };
}

describe('a deleted Ed25519 key whose token object cannot be destroyed', () => {
  it('is tried again on later passes, with backoff, until the object is gone', async () => {
    const { keyId, versionId, wrapped } = await deletedEd25519Key();
    expect(tokenHoldsObject(wrapped)).toBe(true);

    control.set(['fault=C_DestroyObject CKR_DEVICE_ERROR count=-1']);
    await scheduler.runOnce();
    expect(await kms.store.getKey(keyId)).toBeUndefined();
    expect(tokenHoldsObject(wrapped)).toBe(true);
    expect(destructionErrors()).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ keyId, keyMaterialId: versionId, err: expect.objectContaining({ code: 'CKR_DEVICE_ERROR' }) }) }),
    ]);

    // Within the backoff (30 s after the first failure): not tried, not logged again.
    kms.clock.advance(29_999);
    await scheduler.runOnce();
    expect(destructionErrors()).toHaveLength(1);
    kms.clock.advance(1);
    await scheduler.runOnce();
    expect(destructionErrors()).toHaveLength(2);
    expect(destructionErrors().map((l) => l.obj.attempts)).toEqual([1, 2]);
    expect(destructionErrors()[1]!.obj).toMatchObject({ keyId, keyMaterialId: versionId });
    expect(tokenHoldsObject(wrapped)).toBe(true);

    // The HSM answers again: the next due pass destroys the object and drops the record.
    control.set([]);
    kms.clock.advance(60_000);
    await scheduler.runOnce();
    expect(tokenHoldsObject(wrapped)).toBe(false);
    expect(destructionErrors()).toHaveLength(2);
    expect(await kms.store.listMaterialDestructionsDue(new Date(kms.clock.now().getTime() + 3_600_000), 10)).toEqual([]);
    // Nothing secret in what was logged.
    expect(JSON.stringify(logs)).not.toMatch(/pin/i);
  });

  it('is destroyed once when two processes try the same recorded destruction together', async () => {
    const { wrapped } = await deletedEd25519Key();
    control.set(['fault=C_DestroyObject CKR_DEVICE_ERROR count=-1']);
    await scheduler.runOnce();
    control.set([]);
    kms.clock.advance(30_000);
    // Two workers read the same due record and both try it: one claims the attempt, the other leaves it.
    const due = await kms.store.listMaterialDestructionsDue(kms.clock.now(), 10);
    expect(due).toHaveLength(1);
    await Promise.all([destroyRecorded(kms.deps, memoryLogger(logs), due), destroyRecorded(kms.deps, memoryLogger(logs), due)]);
    expect(tokenHoldsObject(wrapped)).toBe(false);
    expect(await kms.store.listMaterialDestructionsDue(new Date(kms.clock.now().getTime() + 3_600_000), 10)).toEqual([]);
    // A record tried again after its object went (a process that stalled past its claim) finds none: no error.
    await destroyRecorded(kms.deps, memoryLogger(logs), due.map((d) => ({ ...d, attempts: 0 })));
    expect(destructionErrors()).toHaveLength(1);
  });
});
