/**
 * UpdateCustomKeyStore: a new name (in any state), or, while the store is DISCONNECTED, a new
 * password (the token's user PIN changed) or another cluster (e.g. a token restored from a
 * backup of this one, holding the same key objects).
 */
import { KmsError } from '../errors.js';
import {
  clusterId,
  connections,
  invalidState,
  keyStorePassword,
  rejectMembers,
  requiredStoreId,
  resolveStore,
  storeName,
  XKS_MEMBERS,
  CLOUDHSM_MEMBERS,
} from '../key-stores/rules.js';
import type { CustomKeyStoreRecord } from '../key-stores/model.js';
import type { Operation } from '../operation.js';
import { updateStoreRecord } from './custom-key-store-updates.js';

export const updateCustomKeyStore: Operation = {
  name: 'UpdateCustomKeyStore',
  async run(deps, ctx, input) {
    const id = requiredStoreId(input);
    const newName = storeName(input, 'NewCustomKeyStoreName', false);
    const password = keyStorePassword(input, false);
    const cluster = clusterId(input, false);
    const store = await resolveStore(deps.store, id);
    if (store.type === 'AWS_CLOUDHSM') rejectMembers(input, XKS_MEMBERS, 'for a custom key store of type AWS_CLOUDHSM');
    else rejectMembers(input, CLOUDHSM_MEMBERS, 'for a custom key store of type EXTERNAL_KEY_STORE');
    if (newName === undefined && password === undefined && cluster === undefined)
      throw new KmsError('ValidationException', 'Specify at least one property to change: NewCustomKeyStoreName, KeyStorePassword or CloudHsmClusterId.');
    const changesConnection = password !== undefined || cluster !== undefined;
    checkState(store, changesConnection);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdateCustomKeyStore', context: {} });

    if (cluster !== undefined && cluster !== store.cloudHsmClusterId) {
      const clusters = connections(deps).clusters;
      if (!clusters || !(await clusters.has(cluster))) throw new KmsError('CloudHsmClusterNotFoundException', `No cluster ${cluster} is configured on this server.`);
    }
    const sealed = password === undefined ? undefined : await deps.backend.sealSecret(Buffer.from(password, 'utf8'));
    await updateStoreRecord(deps, id, async (current, tx) => {
      checkState(current, changesConnection);
      if (newName !== undefined && newName !== current.name) {
        const holder = await tx.keyStores.getCustomKeyStoreByName(newName);
        if (holder) throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${newName} already exists in this account and Region.`);
      }
      if (cluster !== undefined && cluster !== current.cloudHsmClusterId) {
        const { items } = await tx.keyStores.listCustomKeyStores(1000);
        const user = items.find((s) => s.cloudHsmClusterId === cluster);
        if (user) throw new KmsError('CloudHsmClusterInUseException', `The cluster ${cluster} is already used by custom key store ${user.customKeyStoreId}.`);
      }
      return {
        ...current,
        ...(newName !== undefined ? { name: newName } : {}),
        ...(sealed !== undefined ? { sealedPassword: sealed } : {}),
        ...(cluster !== undefined ? { cloudHsmClusterId: cluster } : {}),
      };
    });
    return {};
  },
};

function checkState(store: CustomKeyStoreRecord, changesConnection: boolean): void {
  if (changesConnection && store.connectionState !== 'DISCONNECTED')
    throw invalidState(store, 'disconnect it (DisconnectCustomKeyStore) before changing its KeyStorePassword or CloudHsmClusterId; only its name can change while it is connected.');
}
