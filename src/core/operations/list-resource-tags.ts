/** ListResourceTags: a key's tags, paged. Works in every key state. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { pageOf, pagingFields, parsePaging } from './key-updates.js';

export const listResourceTags: Operation = {
  name: 'ListResourceTags',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const { limit, marker } = parsePaging(input, 50, 50);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListResourceTags', key, context: {} });
    const tags = await deps.store.getTags(key.keyId);
    const { page, nextMarker } = pageOf(tags, limit, marker);
    return { Tags: page.map((t) => ({ TagKey: t.TagKey, TagValue: t.TagValue })), ...pagingFields(nextMarker) };
  },
};
