/**
 * DeleteCustomKeyStore: only a DISCONNECTED store that holds no KMS keys. The cluster and the
 * objects in its token are left alone, as in AWS.
 */
import { KmsError } from '../errors.js';
import { invalidState, requiredStoreId, resolveStore } from '../key-stores/rules.js';
import type { CustomKeyStoreRecord } from '../key-stores/model.js';
import type { Operation } from '../operation.js';
import type { MetadataRepository } from '../ports.js';

export const deleteCustomKeyStore: Operation = {
  name: 'DeleteCustomKeyStore',
  async run(deps, ctx, input) {
    const id = requiredStoreId(input);
    await check(deps.store, await resolveStore(deps.store, id));
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DeleteCustomKeyStore', context: {} });
    await deps.store.transaction(async (tx) => {
      await check(tx, await resolveStore(tx, id));
      await tx.keyStores.deleteCustomKeyStore(id);
    });
    return {};
  },
};

async function check(repo: MetadataRepository, store: CustomKeyStoreRecord): Promise<void> {
  if (store.connectionState !== 'DISCONNECTED') throw invalidState(store, 'disconnect it (DisconnectCustomKeyStore) before deleting it.');
  const keys = await repo.keyStores.countKeysInCustomKeyStore(store.customKeyStoreId);
  if (keys > 0)
    throw new KmsError(
      'CustomKeyStoreHasCMKsException',
      `Custom key store ${store.customKeyStoreId} still holds ${keys} KMS key${keys === 1 ? '' : 's'}. Schedule their deletion (ScheduleKeyDeletion) and delete the store once they are gone.`,
    );
}
