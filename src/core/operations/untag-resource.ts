/** UntagResource: removes tags from a key by tag key; unknown tag keys are ignored, as in AWS. */
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { constraintError, optionalStringList, requiredKeyId } from '../validation.js';

export const untagResource: Operation = {
  name: 'UntagResource',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const tagKeys = optionalStringList(input, 'TagKeys');
    if (tagKeys === undefined) throw constraintError('TagKeys', null, 'Member must not be null');
    tagKeys.forEach((k, i) => {
      if (k.length < 1) throw constraintError(`tagKeys.${i + 1}.member`, k, 'Member must have length greater than or equal to 1');
      if (k.length > 128) throw constraintError(`tagKeys.${i + 1}.member`, k, 'Member must have length less than or equal to 128');
    });
    const key = await resolveKey(deps.store, deps.settings, keyIdInput);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:UntagResource',
      key,
      context: { 'aws:TagKeys': tagKeys },
    });
    if (tagKeys.length > 0) await deps.store.deleteTags(key.keyId, tagKeys);
    return {};
  },
};
