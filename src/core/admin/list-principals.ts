/** HsmKms.ListPrincipals: principals in ARN order, a page at a time (no secrets). */
import { readListMarker, writeListMarker } from '../list-marker.js';
import type { Operation } from '../operation.js';
import { pagingFields } from '../operations/key-updates.js';
import { parsePaging, principalSummary } from './admin-rules.js';

export const listPrincipals: Operation = {
  name: 'ListPrincipals',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const { limit, marker } = parsePaging(input);
    const after = marker === undefined ? undefined : readListMarker('principals', marker);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListPrincipals', context: {} });
    const page = await deps.store.listPrincipalsPage(limit, after);
    const last = page.items.at(-1);
    return {
      Principals: page.items.map(principalSummary),
      ...pagingFields(page.more && last ? writeListMarker('principals', { arn: last.arn }) : undefined),
    };
  },
};
