/** HsmKms.TagPrincipal / UntagPrincipal: the tags `aws:PrincipalTag/…` conditions test. */
import { KmsError } from '../errors.js';
import type { Operation } from '../operation.js';
import { constraintError, optionalStringList } from '../validation.js';
import { parsePrincipalTags, targetPrincipal } from './admin-rules.js';
import { MAX_PRINCIPAL_TAGS } from './principals.js';
import { lockNames } from '../locks.js';

export const tagPrincipal: Operation = {
  name: 'TagPrincipal',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    if (input.Tags === undefined || input.Tags === null) throw constraintError('Tags', null, 'Member must not be null');
    const tags = parsePrincipalTags(input);
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:TagPrincipal',
      context: { 'aws:TagKeys': tags.map((t) => t.TagKey) },
    });
    await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.principal(principal.arn));
      const current = await tx.getPrincipalAuthorization(principal.arn);
      if (!current) throw new KmsError('NotFoundException', `The principal with name ${principal.name} cannot be found.`);
      const keys = new Set([...current.tags.map((t) => t.TagKey), ...tags.map((t) => t.TagKey)]);
      if (keys.size > MAX_PRINCIPAL_TAGS) throw new KmsError('LimitExceededException', `A principal may have at most ${MAX_PRINCIPAL_TAGS} tags.`);
      await tx.putPrincipalTags(principal.arn, tags);
    });
    return {};
  },
};

export const untagPrincipal: Operation = {
  name: 'UntagPrincipal',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const tagKeys = optionalStringList(input, 'TagKeys', { max: MAX_PRINCIPAL_TAGS });
    if (tagKeys === undefined) throw constraintError('TagKeys', null, 'Member must not be null');
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:UntagPrincipal', context: { 'aws:TagKeys': tagKeys } });
    await deps.store.deletePrincipalTags(principal.arn, tagKeys);
    return {};
  },
};
