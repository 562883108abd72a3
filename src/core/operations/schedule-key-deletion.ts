/**
 * ScheduleKeyDeletion: the key becomes unusable now and its material is destroyed by the
 * scheduler (src/core/scheduler.ts) once the waiting period has passed. A multi-Region primary
 * key that still has replicas waits first, as in AWS, in `PendingReplicaDeletion` (no
 * DeletionDate yet): a `replica-deletion` replication job asks the replicas' regions until none
 * still holds the key, then the waiting period starts (PendingDeletion).
 */
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import { isMultiRegionKeyId, isPrimaryHere, otherRegions } from '../multi-region/model.js';
import { enqueueJob, tryJobNow } from '../multi-region/replication-jobs.js';
import type { KmsDeps, Operation } from '../operation.js';
import type { KeyRecord } from '../model.js';
import { epochSeconds, optionalInteger, requiredKeyId } from '../validation.js';
import { addDays, updateKeyRecord } from './key-updates.js';
import { KmsError } from '../errors.js';

export const scheduleKeyDeletion: Operation = {
  name: 'ScheduleKeyDeletion',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const days = optionalInteger(input, 'PendingWindowInDays', 7, 30) ?? 30;
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:ScheduleKeyDeletion',
      key,
      context: { 'kms:ScheduleKeyDeletionPendingWindowInDays': String(days) },
    });
    const updated = (await hasReplicas(deps, key)) ? await waitForReplicas(deps, key, days) : await startWaitingPeriod(deps, key, days);
    return {
      KeyId: updated.arn,
      ...(updated.deletionDate ? { DeletionDate: epochSeconds(updated.deletionDate) } : {}),
      KeyState: updated.keyState,
      PendingWindowInDays: days,
    };
  },
};

async function startWaitingPeriod(deps: KmsDeps, key: KeyRecord, days: number): Promise<KeyRecord> {
  const deletionDate = addDays(deps.clock.now(), days);
  return updateKeyRecord(deps, key.keyId, (current) => {
    requireNotPendingDeletion(current);
    return { ...current, keyState: 'PendingDeletion', deletionDate, pendingDeletionWindowInDays: days };
  });
}

/** Whether `key` is a multi-Region primary with replicas (also ones still being created). */
async function hasReplicas(deps: KmsDeps, key: KeyRecord): Promise<boolean> {
  if (!isMultiRegionKeyId(key.keyId)) return false;
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  if (record?.updating) throw new KmsError('KMSInvalidStateException', `${key.arn} is Updating (its primary Region is changing); try again once that is done.`);
  return record !== undefined && isPrimaryHere(record, deps.settings) && otherRegions(record, deps.settings).length > 0;
}

/** PendingReplicaDeletion and its job, in one transaction; the replicas' regions are asked at once. */
async function waitForReplicas(deps: KmsDeps, key: KeyRecord, days: number): Promise<KeyRecord> {
  const job = { keyId: key.keyId, region: deps.settings.region, kind: 'replica-deletion' as const };
  const pending = await updateKeyRecord(deps, key.keyId, async (current, tx) => {
    requireNotPendingDeletion(current);
    await enqueueJob(tx, deps.clock.now(), job);
    return { ...current, keyState: 'PendingReplicaDeletion', deletionDate: undefined, pendingDeletionWindowInDays: days };
  });
  // Replicas already gone: the waiting period starts now.
  const outcome = await tryJobNow(deps, job);
  return outcome?.status === 'done' ? ((await deps.store.getKey(key.keyId)) ?? pending) : pending;
}
