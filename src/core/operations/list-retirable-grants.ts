/** ListRetirableGrants: every grant, on any key, that names this retiring principal. */
import type { Operation } from '../operation.js';
import { keyArn } from '../key-resolver.js';
import { grantListEntry, grantPrincipalText, grantsPagingFields, readGrantsMarker } from './grant-rules.js';
import { parsePaging } from './key-updates.js';

export const listRetirableGrants: Operation = {
  name: 'ListRetirableGrants',
  async run(deps, ctx, input) {
    const retiringPrincipal = grantPrincipalText(input, 'RetiringPrincipal', true);
    const { limit, marker } = parsePaging(input, 100, 50);
    // A marker is bound to this principal's list: one from another's (or from ListGrants) is refused.
    const list = { retiringPrincipal };
    const after = marker === undefined ? undefined : readGrantsMarker(list, marker);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListRetirableGrants', context: {} });
    const page = await deps.store.listRetirableGrants({ retiringPrincipal, limit, ...(after !== undefined ? { after } : {}) });
    return { Grants: page.items.map((g) => grantListEntry(g, keyArn(deps.settings, g.keyId))), ...grantsPagingFields(list, page) };
  },
};
