/**
 * DisconnectCustomKeyStore: moves the store to DISCONNECTING and returns; this process's
 * connection is closed (every session to the token) in the background, and other processes
 * close theirs as soon as they see the state. From then on its keys are unusable.
 */
import { connections, invalidState, requiredStoreId, resolveStore } from '../key-stores/rules.js';
import type { CustomKeyStoreRecord } from '../key-stores/model.js';
import type { Operation } from '../operation.js';
import { updateStoreRecord } from './custom-key-store-updates.js';

export const disconnectCustomKeyStore: Operation = {
  name: 'DisconnectCustomKeyStore',
  async run(deps, ctx, input) {
    const id = requiredStoreId(input);
    const live = connections(deps);
    checkState(await resolveStore(deps.store, id));
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DisconnectCustomKeyStore', context: {} });
    await updateStoreRecord(deps, id, (current) => {
      checkState(current);
      return { ...current, connectionState: 'DISCONNECTING', connectionErrorCode: undefined };
    });
    live.startDisconnecting(id);
    return {};
  },
};

function checkState(store: CustomKeyStoreRecord): void {
  if (store.connectionState === 'DISCONNECTED' || store.connectionState === 'DISCONNECTING')
    throw invalidState(store, 'only a store that is connected, connecting or failed can be disconnected.');
}
