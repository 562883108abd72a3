/** TagResource: adds tags to a key or overwrites the values of existing tag keys. */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { constraintError, requiredKeyId } from '../validation.js';
import { checkTagCount, parseTags, tagConditions } from './tag-rules.js';
import { lockNames } from '../locks.js';

export const tagResource: Operation = {
  name: 'TagResource',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    if (input.Tags === undefined || input.Tags === null) throw constraintError('Tags', null, 'Member must not be null');
    const tags = parseTags(input, 'Tags');
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:TagResource',
      key,
      context: tagConditions(tags),
    });
    await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.key(key.keyId));
      const current = await tx.getKey(key.keyId);
      if (!current) throw new KmsError('NotFoundException', `Key '${key.arn}' does not exist`);
      requireNotPendingDeletion(current);
      checkTagCount(await tx.getTags(key.keyId), tags);
      if (tags.length > 0) await tx.putTags(key.keyId, tags);
    });
    return {};
  },
};
