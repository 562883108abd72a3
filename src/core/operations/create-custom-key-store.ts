/**
 * CreateCustomKeyStore: a token-backed key store (AWS_CLOUDHSM) on a cluster this server was
 * configured with; the store starts DISCONNECTED. KeyStorePassword is the token's user PIN: it is
 * checked when the store connects, and kept only sealed by the default store's HSM key.
 */
import { KmsError } from '../errors.js';
import { CUSTOM_KEY_STORE_TYPES, type CustomKeyStoreRecord } from '../key-stores/model.js';
import {
  CLOUDHSM_MEMBERS,
  clusterId,
  connections,
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

export const createCustomKeyStore: Operation = {
  name: 'CreateCustomKeyStore',
  async run(deps, ctx, input) {
    const name = storeName(input, 'CustomKeyStoreName', true)!;
    const type = optionalEnum(input, 'CustomKeyStoreType', CUSTOM_KEY_STORE_TYPES) ?? 'AWS_CLOUDHSM';
    if (type === 'EXTERNAL_KEY_STORE') {
      rejectMembers(input, CLOUDHSM_MEMBERS, 'for a custom key store of type EXTERNAL_KEY_STORE');
      throw new KmsError('UnsupportedOperationException', 'External key stores (EXTERNAL_KEY_STORE) are not supported by this server yet.');
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

/** The name and the cluster must be free, and the quota not reached. */
async function checkAvailable(repo: MetadataRepository, name: string, cluster: string | undefined): Promise<void> {
  if (await repo.keyStores.getCustomKeyStoreByName(name))
    throw new KmsError('CustomKeyStoreNameInUseException', `A custom key store named ${name} already exists in this account and Region.`);
  if (cluster !== undefined) {
    const { items } = await repo.keyStores.listCustomKeyStores(1000);
    const user = items.find((s) => s.cloudHsmClusterId === cluster);
    if (user) throw new KmsError('CloudHsmClusterInUseException', `The cluster ${cluster} is already used by custom key store ${user.customKeyStoreId}.`);
  }
  if ((await repo.keyStores.countCustomKeyStores()) >= MAX_CUSTOM_KEY_STORES)
    throw new KmsError('LimitExceededException', `This account already has ${MAX_CUSTOM_KEY_STORES} custom key stores, the most it may have.`);
}

/** Inserts after checking again inside the transaction (a racing request may have taken the name). */
async function insertStore(deps: KmsDeps, store: CustomKeyStoreRecord): Promise<void> {
  await deps.store.transaction(async (tx) => {
    await checkAvailable(tx, store.name, store.cloudHsmClusterId);
    await tx.keyStores.insertCustomKeyStore(store);
  });
}
