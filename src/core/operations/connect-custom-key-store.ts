/**
 * ConnectCustomKeyStore: moves a DISCONNECTED store to CONNECTING and returns; the connection
 * is made in the background (core/key-stores/connections.ts) and ends CONNECTED, or FAILED with
 * its ConnectionErrorCode (a wrong KeyStorePassword is INVALID_CREDENTIALS, not an exception).
 */
import { connections, invalidState, requiredStoreId, resolveStore } from '../key-stores/rules.js';
import type { Operation } from '../operation.js';
import { updateStoreRecord } from './custom-key-store-updates.js';

export const connectCustomKeyStore: Operation = {
  name: 'ConnectCustomKeyStore',
  async run(deps, ctx, input) {
    const id = requiredStoreId(input);
    const live = connections(deps);
    const store = await resolveStore(deps.store, id);
    checkState(store);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ConnectCustomKeyStore', context: {} });

    // CONNECTED and CONNECTING are already where this request leads: success, as in AWS.
    if (store.connectionState !== 'DISCONNECTED') return {};
    const updated = await updateStoreRecord(deps, id, (current) => {
      checkState(current);
      return current.connectionState === 'DISCONNECTED' ? { ...current, connectionState: 'CONNECTING', connectionErrorCode: undefined } : undefined;
    });
    if (updated) live.startConnecting(id);
    return {};
  },
};

function checkState(store: Parameters<typeof invalidState>[0]): void {
  if (store.connectionState === 'FAILED')
    throw invalidState(store, 'a store that failed to connect must be disconnected (DisconnectCustomKeyStore) before it is connected again.');
  if (store.connectionState === 'DISCONNECTING') throw invalidState(store, 'wait until it is DISCONNECTED, then connect it.');
}
