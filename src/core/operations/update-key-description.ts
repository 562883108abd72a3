/** UpdateKeyDescription: replaces a key's description. */
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId, requiredString } from '../validation.js';
import { updateKeyRecord } from './key-updates.js';

export const updateKeyDescription: Operation = {
  name: 'UpdateKeyDescription',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const description = requiredString(input, 'Description', { min: 0, max: 8192 });
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdateKeyDescription', key, context: {} });
    await updateKeyRecord(deps, key.keyId, (current) => {
      requireNotPendingDeletion(current);
      return { ...current, description };
    });
    return {};
  },
};
