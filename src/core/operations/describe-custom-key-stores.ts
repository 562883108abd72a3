/** DescribeCustomKeyStores: every custom key store (paged), or the one named by id or name. */
import { KmsError } from '../errors.js';
import { customKeyStoreEntry, resolveStore, storeName } from '../key-stores/rules.js';
import type { Operation } from '../operation.js';
import { optionalInteger, optionalString } from '../validation.js';

export const describeCustomKeyStores: Operation = {
  name: 'DescribeCustomKeyStores',
  async run(deps, ctx, input) {
    const id = optionalString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
    const name = storeName(input, 'CustomKeyStoreName', false);
    const limit = optionalInteger(input, 'Limit', 1, 1000) ?? 100;
    const marker = optionalString(input, 'Marker', { min: 1, max: 1024, pattern: /^[\u0020-\u00FF]*$/ });
    if (id !== undefined && name !== undefined)
      throw new KmsError('ValidationException', 'Specify CustomKeyStoreId or CustomKeyStoreName, not both.');

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DescribeCustomKeyStores', context: {} });

    if (id !== undefined) return { CustomKeyStores: [customKeyStoreEntry(await resolveStore(deps.store, id))], Truncated: false };
    if (name !== undefined) {
      const store = await deps.store.keyStores.getCustomKeyStoreByName(name);
      if (!store) throw new KmsError('CustomKeyStoreNotFoundException', `No custom key store is named ${name} in this account and Region.`);
      return { CustomKeyStores: [customKeyStoreEntry(store)], Truncated: false };
    }
    const page = await deps.store.keyStores.listCustomKeyStores(limit, marker);
    return {
      CustomKeyStores: page.items.map(customKeyStoreEntry),
      Truncated: page.nextMarker !== undefined,
      ...(page.nextMarker !== undefined ? { NextMarker: page.nextMarker } : {}),
    };
  },
};
