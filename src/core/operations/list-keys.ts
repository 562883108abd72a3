/** ListKeys: the account's keys, paged. */
import { readListMarker, writeListMarker } from '../list-marker.js';
import type { Operation } from '../operation.js';
import { pagingFields, parsePaging } from './key-updates.js';

export const listKeys: Operation = {
  name: 'ListKeys',
  async run(deps, ctx, input) {
    const { limit, marker } = parsePaging(input, 1000, 100);
    const after = marker === undefined ? undefined : readListMarker('keys', marker);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListKeys', context: {} });
    const page = await deps.store.listKeys(limit, after);
    const last = page.items.at(-1);
    return {
      Keys: page.items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
      ...pagingFields(page.more && last ? writeListMarker('keys', { creationDate: last.creationDate, keyId: last.keyId }) : undefined),
    };
  },
};
