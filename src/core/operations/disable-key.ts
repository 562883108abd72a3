/** DisableKey: stops all cryptographic use of a key until EnableKey. */
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

export const disableKey: Operation = {
  name: 'DisableKey',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    check(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DisableKey', key, context: {} });
    await requireNotUpdating(deps, key);
    if (key.keyState === 'Disabled') return {};
    await updateKeyRecord(deps, key.keyId, (current) => {
      check(current);
      return { ...current, keyState: 'Disabled' };
    });
    return {};
  },
};
