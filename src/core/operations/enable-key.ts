/** EnableKey: lets a disabled key be used again. */
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { requireNotUpdating } from '../multi-region/metadata.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { requireNotPendingImport, updateKeyRecord } from './key-updates.js';

function check(key: KeyRecord): void {
  requireNotPendingDeletion(key);
  requireNotPendingImport(key);
}

export const enableKey: Operation = {
  name: 'EnableKey',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    check(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:EnableKey', key, context: {} });
    await requireNotUpdating(deps, key);
    if (key.keyState === 'Enabled') return {};
    await updateKeyRecord(deps, key.keyId, (current) => {
      check(current);
      return { ...current, keyState: 'Enabled' };
    });
    return {};
  },
};
