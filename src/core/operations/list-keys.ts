/** ListKeys: the account's keys, paged. */
import type { Operation } from '../operation.js';
import { pagingFields, parsePaging } from './key-updates.js';

export const listKeys: Operation = {
  name: 'ListKeys',
  async run(deps, ctx, input) {
    const { limit, marker } = parsePaging(input, 1000, 100);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListKeys', context: {} });
    const page = await deps.store.listKeys(limit, marker);
    return {
      Keys: page.items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })),
      ...pagingFields(page.nextMarker),
    };
  },
};
