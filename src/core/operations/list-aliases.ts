/** ListAliases: the account's aliases, or one key's, paged. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { readListMarker, writeListMarker } from '../list-marker.js';
import type { Operation } from '../operation.js';
import { epochSeconds, optionalString } from '../validation.js';
import { pagingFields, parsePaging } from './key-updates.js';

export const listAliases: Operation = {
  name: 'ListAliases',
  async run(deps, ctx, input) {
    const keyIdInput = optionalString(input, 'KeyId', { min: 1, max: 2048 });
    const { limit, marker } = parsePaging(input, 100, 50);
    const after = marker === undefined ? undefined : readListMarker('aliases', marker);
    let key: KeyRecord | undefined;
    if (keyIdInput !== undefined) key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListAliases', key, context: {} });
    const page = await deps.store.listAliases({
      limit,
      ...(key ? { keyId: key.keyId } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    const last = page.items.at(-1);
    return {
      Aliases: page.items.map((a) => ({
        AliasName: a.aliasName,
        AliasArn: a.aliasArn,
        TargetKeyId: a.targetKeyId,
        CreationDate: epochSeconds(a.creationDate),
        LastUpdatedDate: epochSeconds(a.lastUpdatedDate),
      })),
      ...pagingFields(page.more && last ? writeListMarker('aliases', { aliasName: last.aliasName }) : undefined),
    };
  },
};
