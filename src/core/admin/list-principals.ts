/** HsmKms.ListPrincipals: principals in ARN order, a page at a time (no secrets). */
import type { Operation } from '../operation.js';
import { parsePaging, principalSummary } from './admin-rules.js';

export const listPrincipals: Operation = {
  name: 'ListPrincipals',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const { limit, marker } = parsePaging(input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListPrincipals', context: {} });
    const page = await deps.store.listPrincipalsPage(limit, marker);
    return {
      Principals: page.items.map(principalSummary),
      Truncated: page.nextMarker !== undefined,
      ...(page.nextMarker !== undefined ? { NextMarker: page.nextMarker } : {}),
    };
  },
};
