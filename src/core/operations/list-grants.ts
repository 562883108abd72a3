/** ListGrants: a key's grants in creation order, page by page, optionally one grant or one grantee's. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { parseGrantTokens } from './crypto-helpers.js';
import { grantListEntry, grantPrincipalText, grantsPagingFields, parseGrantId, readGrantsMarker } from './grant-rules.js';
import { parsePaging } from './key-updates.js';

export const listGrants: Operation = {
  name: 'ListGrants',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const { limit, marker } = parsePaging(input, 100, 50);
    const grantId = parseGrantId(input, false);
    const granteePrincipal = grantPrincipalText(input, 'GranteePrincipal', false);
    parseGrantTokens(input);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListGrants', key, context: { 'kms:GrantIsForAWSResource': 'false' } });
    // A marker is bound to the key's list: one from another key's list (or ListRetirableGrants) is refused.
    const list = { keyId: key.keyId };
    const after = marker === undefined ? undefined : readGrantsMarker(list, marker);
    const page = await deps.store.listGrants({
      keyId: key.keyId,
      limit,
      ...(grantId !== undefined ? { grantId } : {}),
      ...(granteePrincipal !== undefined ? { granteePrincipal } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    return { Grants: page.items.map((g) => grantListEntry(g, key.arn)), ...grantsPagingFields(list, page) };
  },
};
