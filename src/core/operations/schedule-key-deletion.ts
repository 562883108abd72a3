/**
 * ScheduleKeyDeletion: the key becomes unusable now and its material is destroyed by the
 * scheduler (src/core/scheduler.ts) once the waiting period has passed.
 */
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
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
