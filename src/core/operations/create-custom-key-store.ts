/**
 * CreateCustomKeyStore: a token-backed key store (AWS_CLOUDHSM) on a cluster this server was
 * configured with — KeyStorePassword is the token's user PIN, checked when the store connects and
 * kept only sealed by the default store's HSM key — or an external key store (EXTERNAL_KEY_STORE)
 * behind an XKS proxy, which must answer GetHealthStatus now, as AWS requires of a public
 * endpoint. Either starts DISCONNECTED.
 */
import { KmsError } from '../errors.js';
import { CUSTOM_KEY_STORE_TYPES, type CustomKeyStoreRecord } from '../key-stores/model.js';
import {
  checkXksProxy,
  CLOUDHSM_MEMBERS,
  clusterId,
  connections,
  xksConnectivity,
  xksCredential,
  xksEndpoint,
  xksPath,
  keyStorePassword,
  MAX_CUSTOM_KEY_STORES,
  newCustomKeyStoreId,
  rejectMembers,
  storeName,
  trustAnchor,
  XKS_MEMBERS,
} from '../key-stores/rules.js';
import type { KmsDeps, Operation } from '../operation.js';
import type { MetadataRepository } from '../ports.js';
import { optionalEnum } from '../validation.js';
import { lockNames } from '../locks.js';

export const createCustomKeyStore: Operation = {
  name: 'CreateCustomKeyStore',
  async run(deps, ctx, input) {
    const name = storeName(input, 'CustomKeyStoreName', true)!;
    const type = optionalEnum(input, 'CustomKeyStoreType', CUSTOM_KEY_STORE_TYPES) ?? 'AWS_CLOUDHSM';
    if (type === 'EXTERNAL_KEY_STORE') {
      rejectMembers(input, CLOUDHSM_MEMBERS, 'for a custom key store of type EXTERNAL_KEY_STORE');
      return createExternalStore(deps, ctx.requestId, name, input, () =>
        deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:CreateCustomKeyStore', context: {} }),
      );
    }
    rejectMembers(input, XKS_MEMBERS, 'for a custom key store of type AWS_CLOUDHSM');
    const cluster = clusterId(input, true)!;
    const password = keyStorePassword(input, true)!;
    const certificate = trustAnchor(input);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:CreateCustomKeyStore', context: {} });

    const clusters = connections(deps).clusters;
    if (!clusters || !(await clusters.has(cluster)))
      throw new KmsError(
        'CloudHsmClusterNotFoundException',
        `No cluster ${cluster} is configured on this server. Configure it with hsmkms serve --cluster ${cluster}=MODULE_PATH:TOKEN_LABEL (with the embedded SoftHSM2: hsmkms token init --label ${cluster}).`,
      );
    await checkAvailable(deps.store, name, cluster);

    const sealed = await deps.backend.sealSecret(Buffer.from(password, 'utf8'));
    const store: CustomKeyStoreRecord = {
      customKeyStoreId: newCustomKeyStoreId(),
      name,
      type,
      creationDate: deps.clock.now(),
      connectionState: 'DISCONNECTED',
      cloudHsmClusterId: cluster,
      trustAnchorCertificate: certificate,
      sealedPassword: sealed,
      revision: 1,
    };
    await insertStore(deps, store);
    return { CustomKeyStoreId: store.customKeyStoreId };
  },
};

async function createExternalStore(
  deps: KmsDeps,
  requestId: string,
  name: string,
  input: Parameters<Operation['run']>[2],
  authorize: () => Promise<void>,
): Promise<Record<string, unknown>> {
  const uriEndpoint = xksEndpoint(input, true)!;
  const uriPath = xksPath(input, true)!;
  const credential = xksCredential(input, true)!;
  const connectivity = xksConnectivity(input, true)!;
  await authorize();
  await checkAvailable(deps.store, name, undefined, { uriEndpoint, uriPath });
  await checkXksProxy(deps, { uriEndpoint, uriPath }, credential, 'CreateCustomKeyStore', requestId);
  const store: CustomKeyStoreRecord = {
    customKeyStoreId: newCustomKeyStoreId(),
    name,
    type: 'EXTERNAL_KEY_STORE',
    creationDate: deps.clock.now(),
    connectionState: 'DISCONNECTED',
    xksProxy: {
      uriEndpoint,
      uriPath,
      connectivity,
      accessKeyId: credential.accessKeyId,
      sealedSecretAccessKey: await deps.backend.sealSecret(Buffer.from(credential.secretAccessKey, 'utf8')),
    },
    revision: 1,
  };
  await insertStore(deps, store);
  return { CustomKeyStoreId: store.customKeyStoreId };
}

/** The name, the cluster and the proxy address must be free, and the quota not reached. */
export async function checkAvailable(
  repo: MetadataRepository,
  name: string,
  cluster: string | undefined,
  proxy?: { uriEndpoint: string; uriPath: string },
  except?: string,
): Promise<void> {
  const named = await repo.keyStores.getCustomKeyStoreByName(name);
  if (named && named.customKeyStoreId !== except)
    throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${name} already exists in this account and Region.`);
  const { items } = await repo.keyStores.listCustomKeyStores(1000);
  const others = items.filter((s) => s.customKeyStoreId !== except);
  const clusterUser = cluster === undefined ? undefined : others.find((s) => s.cloudHsmClusterId === cluster);
  if (clusterUser) throw new KmsError('CloudHsmClusterInUseException', `The cluster ${cluster} is already used by custom key store ${clusterUser.customKeyStoreId}.`);
  const proxyUser = proxy && others.find((s) => s.xksProxy?.uriEndpoint === proxy.uriEndpoint && s.xksProxy.uriPath === proxy.uriPath);
  if (proxyUser)
    throw new KmsError('XksProxyUriInUseException', `${proxy.uriEndpoint}${proxy.uriPath} is already the proxy of custom key store ${proxyUser.customKeyStoreId}.`);
  if (except === undefined && (await repo.keyStores.countCustomKeyStores()) >= MAX_CUSTOM_KEY_STORES)
    throw new KmsError('LimitExceededException', `This account already has ${MAX_CUSTOM_KEY_STORES} custom key stores, the most it may have.`);
}

/** Inserts after checking again inside the transaction (a racing request may have taken the name). */
async function insertStore(deps: KmsDeps, store: CustomKeyStoreRecord): Promise<void> {
  await deps.store.transaction(async (tx) => {
    await tx.holdLock(lockNames.customKeyStores());
    await checkAvailable(tx, store.name, store.cloudHsmClusterId, store.xksProxy);
    await tx.keyStores.insertCustomKeyStore(store);
  });
}
