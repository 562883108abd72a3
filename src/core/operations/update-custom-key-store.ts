/**
 * UpdateCustomKeyStore. Any store: a new name, in any state. A token-backed store, while
 * DISCONNECTED: a new password (the token's user PIN changed) or another cluster (e.g. a token
 * restored from a backup of this one, holding the same key objects). An external store: a new
 * proxy path or credential in any state, a new endpoint or connectivity while DISCONNECTED; the
 * proxy must then answer GetHealthStatus with the new settings, as AWS requires.
 */
import { KmsError } from '../errors.js';
import type { CustomKeyStoreRecord, XksProxySettings } from '../key-stores/model.js';
import {
  checkXksProxy,
  CLOUDHSM_MEMBERS,
  clusterId,
  connections,
  invalidState,
  keyStorePassword,
  rejectMembers,
  requiredStoreId,
  resolveStore,
  storeName,
  XKS_MEMBERS,
  xksConnectivity,
  xksCredential,
  xksEndpoint,
  xksPath,
} from '../key-stores/rules.js';
import type { Operation } from '../operation.js';
import { checkAvailable } from './create-custom-key-store.js';
import { updateStoreRecord } from './custom-key-store-updates.js';
import { lockNames } from '../locks.js';

export const updateCustomKeyStore: Operation = {
  name: 'UpdateCustomKeyStore',
  async run(deps, ctx, input) {
    const id = requiredStoreId(input);
    const newName = storeName(input, 'NewCustomKeyStoreName', false);
    const store = await resolveStore(deps.store, id);
    let change: (current: CustomKeyStoreRecord) => Promise<CustomKeyStoreRecord> | CustomKeyStoreRecord;
    let needsDisconnected: boolean;
    /** What must not be another store's: a new cluster, a new proxy address. */
    let newCluster: string | undefined;
    let newProxy: { uriEndpoint: string; uriPath: string } | undefined;

    if (store.type === 'AWS_CLOUDHSM') {
      rejectMembers(input, XKS_MEMBERS, 'for a custom key store of type AWS_CLOUDHSM');
      const password = keyStorePassword(input, false);
      const cluster = clusterId(input, false);
      if (newName === undefined && password === undefined && cluster === undefined)
        throw new KmsError('ValidationException', 'Specify at least one property to change: NewCustomKeyStoreName, KeyStorePassword or CloudHsmClusterId.');
      needsDisconnected = password !== undefined || cluster !== undefined;
      checkState(store, needsDisconnected, 'KeyStorePassword or CloudHsmClusterId');
      await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdateCustomKeyStore', context: {} });
      if (cluster !== undefined && cluster !== store.cloudHsmClusterId) {
        const clusters = connections(deps).clusters;
        if (!clusters || !(await clusters.has(cluster))) throw new KmsError('CloudHsmClusterNotFoundException', `No cluster ${cluster} is configured on this server.`);
      }
      newCluster = cluster;
      const sealed = password === undefined ? undefined : await deps.backend.sealSecret(Buffer.from(password, 'utf8'));
      change = (current) => ({
        ...current,
        ...(sealed !== undefined ? { sealedPassword: sealed } : {}),
        ...(cluster !== undefined ? { cloudHsmClusterId: cluster } : {}),
      });
    } else {
      rejectMembers(input, CLOUDHSM_MEMBERS, 'for a custom key store of type EXTERNAL_KEY_STORE');
      const uriEndpoint = xksEndpoint(input, false);
      const uriPath = xksPath(input, false);
      const credential = xksCredential(input, false);
      const connectivity = xksConnectivity(input, false);
      if (newName === undefined && uriEndpoint === undefined && uriPath === undefined && credential === undefined && connectivity === undefined)
        throw new KmsError(
          'ValidationException',
          'Specify at least one property to change: NewCustomKeyStoreName, XksProxyUriEndpoint, XksProxyUriPath, XksProxyAuthenticationCredential or XksProxyConnectivity.',
        );
      needsDisconnected = uriEndpoint !== undefined || connectivity !== undefined;
      checkState(store, needsDisconnected, 'XksProxyUriEndpoint or XksProxyConnectivity');
      await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdateCustomKeyStore', context: {} });
      const current = store.xksProxy!;
      const proxy = { uriEndpoint: uriEndpoint ?? current.uriEndpoint, uriPath: uriPath ?? current.uriPath };
      let sealedSecret: Uint8Array | undefined;
      if (uriEndpoint !== undefined || uriPath !== undefined) newProxy = proxy;
      if (uriEndpoint !== undefined || uriPath !== undefined || credential !== undefined) {
        await checkAvailable(deps.store, store.name, undefined, newProxy, store.customKeyStoreId);
        const secret = credential?.secretAccessKey ?? (await deps.backend.unsealSecret(current.sealedSecretAccessKey)).toString('utf8');
        await checkXksProxy(deps, proxy, { accessKeyId: credential?.accessKeyId ?? current.accessKeyId, secretAccessKey: secret }, 'UpdateCustomKeyStore', ctx.requestId);
        if (credential) sealedSecret = await deps.backend.sealSecret(Buffer.from(credential.secretAccessKey, 'utf8'));
      }
      change = (record) => {
        const settings: XksProxySettings = {
          ...record.xksProxy!,
          ...proxy,
          ...(connectivity !== undefined ? { connectivity } : {}),
          ...(credential && sealedSecret ? { accessKeyId: credential.accessKeyId, sealedSecretAccessKey: sealedSecret } : {}),
        };
        return { ...record, xksProxy: settings };
      };
    }

    await updateStoreRecord(deps, id, async (current, tx) => {
      checkState(current, needsDisconnected, 'these properties');
      // The name, cluster and proxy are free only while no other store takes them meanwhile.
      await tx.holdLock(lockNames.customKeyStores());
      await checkAvailable(tx, newName ?? current.name, newCluster, newProxy, current.customKeyStoreId);
      return { ...(await change(current)), ...(newName !== undefined ? { name: newName } : {}) };
    });
    return {};
  },
};

function checkState(store: CustomKeyStoreRecord, needsDisconnected: boolean, what: string): void {
  if (needsDisconnected && store.connectionState !== 'DISCONNECTED')
    throw invalidState(store, `disconnect it (DisconnectCustomKeyStore) before changing its ${what}; its name can change while it is connected.`);
}
