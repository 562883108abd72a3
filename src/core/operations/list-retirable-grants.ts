/** ListRetirableGrants: every grant, on any key, that names this retiring principal. */
import type { Operation } from '../operation.js';
import { keyArn } from '../key-resolver.js';
import { requiredString } from '../validation.js';
import { grantListEntry } from './grant-rules.js';
import { pagingFields, parsePaging } from './key-updates.js';

export const listRetirableGrants: Operation = {
  name: 'ListRetirableGrants',
  async run(deps, ctx, input) {
    const retiringPrincipal = requiredString(input, 'RetiringPrincipal', { min: 1, max: 256 });
    const { limit, marker } = parsePaging(input, 100, 50);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListRetirableGrants', context: {} });
    const page = await deps.store.listRetirableGrants({ retiringPrincipal, limit, ...(marker !== undefined ? { marker } : {}) });
    return { Grants: page.items.map((g) => grantListEntry(g, keyArn(deps.settings, g.keyId))), ...pagingFields(page.nextMarker) };
  },
};
