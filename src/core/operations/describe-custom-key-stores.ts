/** DescribeCustomKeyStores: every custom key store (paged), or the one named by id or name. */
import { KmsError } from '../errors.js';
import { readListMarker, writeListMarker } from '../list-marker.js';
import { customKeyStoreEntry, resolveStore, storeName } from '../key-stores/rules.js';
import type { Operation } from '../operation.js';
import { optionalString } from '../validation.js';
import { pagingFields, parsePaging } from './key-updates.js';

export const describeCustomKeyStores: Operation = {
  name: 'DescribeCustomKeyStores',
  async run(deps, ctx, input) {
    const id = optionalString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
    const name = storeName(input, 'CustomKeyStoreName', false);
    const { limit, marker } = parsePaging(input, 1000, 100);
    const after = marker === undefined ? undefined : readListMarker('key-stores', marker);
    if (id !== undefined && name !== undefined)
      throw new KmsError('ValidationException', 'Specify CustomKeyStoreId or CustomKeyStoreName, not both.');

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DescribeCustomKeyStores', context: {} });

    if (id !== undefined) return { CustomKeyStores: [customKeyStoreEntry(await resolveStore(deps.store, id))], Truncated: false };
    if (name !== undefined) {
      const store = await deps.store.keyStores.getCustomKeyStoreByName(name);
      if (!store) throw new KmsError('CustomKeyStoreNotFoundException', `No custom key store is named ${name} in this account and Region.`);
      return { CustomKeyStores: [customKeyStoreEntry(store)], Truncated: false };
    }
    const page = await deps.store.keyStores.listCustomKeyStores(limit, after);
    const last = page.items.at(-1);
    const next = page.more && last ? writeListMarker('key-stores', { creationDate: last.creationDate, customKeyStoreId: last.customKeyStoreId }) : undefined;
    return { CustomKeyStores: page.items.map(customKeyStoreEntry), ...pagingFields(next) };
  },
};
