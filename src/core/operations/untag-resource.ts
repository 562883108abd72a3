/** UntagResource: removes tags from a key by tag key; unknown tag keys are ignored, as in AWS. */
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId, requiredStringList } from '../validation.js';
import { TAG_KEYS_RULE } from './tag-rules.js';

export const untagResource: Operation = {
  name: 'UntagResource',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const tagKeys = requiredStringList(input, 'TagKeys', TAG_KEYS_RULE);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
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
