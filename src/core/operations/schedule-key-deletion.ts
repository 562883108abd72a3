/**
 * ScheduleKeyDeletion: the key becomes unusable now and its material is destroyed by the
 * scheduler (src/core/scheduler.ts) once the waiting period has passed.
 */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { syncRegion, updateRegionSet } from '../multi-region/peer-calls.js';
import type { KmsDeps, Operation } from '../operation.js';
import { epochSeconds, optionalInteger, requiredKeyId } from '../validation.js';
import { addDays, updateKeyRecord } from './key-updates.js';

export const scheduleKeyDeletion: Operation = {
  name: 'ScheduleKeyDeletion',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const days = optionalInteger(input, 'PendingWindowInDays', 7, 30) ?? 30;
    const key = await resolveKey(deps.store, deps.settings, keyIdInput);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:ScheduleKeyDeletion',
      key,
      context: { 'kms:ScheduleKeyDeletionPendingWindowInDays': String(days) },
    });
    if (key.keyId.startsWith('mrk-')) await requireNoReplicas(deps, key);
    const deletionDate = addDays(deps.clock.now(), days);
    const updated = await updateKeyRecord(deps, key.keyId, (current) => {
      requireNotPendingDeletion(current);
      return { ...current, keyState: 'PendingDeletion', deletionDate, pendingDeletionWindowInDays: days };
    });
    return {
      KeyId: updated.arn,
      DeletionDate: epochSeconds(deletionDate),
      KeyState: updated.keyState,
      PendingWindowInDays: days,
    };
  },
};

/**
 * A multi-Region primary key is deleted only once it has no replicas left. AWS would wait in
 * PendingReplicaDeletion; this service refuses instead, after asking each replica's deployment
 * whether its key still exists (and forgetting the regions where it no longer does).
 */
async function requireNoReplicas(deps: KmsDeps, key: KeyRecord): Promise<void> {
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  if (!record || record.primaryRegion !== deps.settings.region) return;
  const remaining: string[] = [];
  const gone: string[] = [];
  for (const { region } of record.regions) {
    if (region === deps.settings.region) continue;
    try {
      await syncRegion(deps, region, record, key);
      remaining.push(region);
    } catch (error) {
      if (error instanceof KmsError && error.type === 'NotFoundException') gone.push(region);
      else remaining.push(`${region} (unreachable: ${error instanceof KmsError ? error.type : 'error'})`);
    }
  }
  if (gone.length > 0) await updateRegionSet(deps, key.keyId, (current) => ({ ...current, regions: current.regions.filter((r) => !gone.includes(r.region)) }));
  if (remaining.length > 0)
    throw new KmsError(
      'KMSInvalidStateException',
      `${key.arn} is a multi-Region primary key with replica keys in ${remaining.join(', ')}. Schedule the deletion of its replicas first, or make another region the primary (UpdatePrimaryRegion); this service does not support PendingReplicaDeletion.`,
    );
}
