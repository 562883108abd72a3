/**
 * KMS keys that live in a custom key store: creating their material there, using it, and
 * destroying it. The operations call these where a default-store key would call the backend;
 * everything about the ciphertext format stays the same (the blob names key and version).
 */
import { HsmError, KmsError } from '../errors.js';
import type { KeyMaterialVersion, KeyRecord } from '../model.js';
import type { KmsDeps } from '../operation.js';
import type { Logger, MaterialRef, SymmetricCiphertext } from '../ports.js';
import { isCustomKeyStoreOrigin, type CustomKeyStoreRecord, type KeyStoreKeyRecord } from './model.js';
import { KeyStoreKeyMissingError, type ClusterConnection } from './ports.js';
import { connections } from './rules.js';

/** Where a key of a custom key store lives. */
export interface KeyStoreLocation {
  store: CustomKeyStoreRecord;
  binding: KeyStoreKeyRecord;
}

/** The store of a key in a custom key store (KMSInternalException if the store lost track of it). */
export async function locateKey(deps: KmsDeps, key: KeyRecord): Promise<KeyStoreLocation> {
  const binding = await deps.store.keyStores.getKeyStoreKey(key.keyId);
  const store = binding && (await deps.store.keyStores.getCustomKeyStore(binding.customKeyStoreId));
  if (!binding || !store) throw new KmsError('KMSInternalException', `${key.arn} has origin ${key.origin} but no custom key store on record.`);
  return { store, binding };
}

/** The extra `KeyMetadata` of a key in a custom key store, and whether it is usable now. */
export async function keyStoreMetadata(
  deps: KmsDeps,
  key: KeyRecord,
): Promise<{ customKeyStoreId: string; cloudHsmClusterId?: string | undefined; xksKeyId?: string | undefined; connected: boolean } | undefined> {
  if (!isCustomKeyStoreOrigin(key.origin)) return undefined;
  const { store, binding } = await locateKey(deps, key);
  return {
    customKeyStoreId: store.customKeyStoreId,
    cloudHsmClusterId: store.type === 'AWS_CLOUDHSM' ? store.cloudHsmClusterId : undefined,
    xksKeyId: binding.xksKeyId,
    connected: store.connectionState === 'CONNECTED',
  };
}

/**
 * New material for `key` in `store` (which must be CONNECTED): an AES-256 object in the
 * cluster's token labelled with the key id. Returns the version to record and a way to undo the
 * HSM step should recording fail.
 */
export async function createKeyStoreMaterial(
  deps: KmsDeps,
  key: KeyRecord,
  store: CustomKeyStoreRecord,
  versionId: string,
): Promise<{ version: KeyMaterialVersion; undo: () => Promise<void> }> {
  const connection = await connections(deps).connectionFor(store, key.arn);
  const reference = await guard(deps, key, store, () => connection.createKey(key.keyId));
  return {
    version: { keyId: key.keyId, versionId, createdAt: key.creationDate, wrappedMaterial: reference },
    undo: async () => {
      await connection.destroyKey({ label: key.keyId, reference });
    },
  };
}

/** AES-256-GCM under a custom key store key, with the same AAD the default store uses. */
export async function encryptInKeyStore(deps: KmsDeps, key: KeyRecord, material: MaterialRef, plaintext: Uint8Array, aad: Uint8Array): Promise<SymmetricCiphertext> {
  const { store } = await locateKey(deps, key);
  const connection = await connections(deps).connectionFor(store, key.arn);
  return guard(deps, key, store, () => connection.encrypt({ label: key.keyId, reference: material.wrapped }, plaintext, aad));
}

/** The inverse of {@link encryptInKeyStore}; a tag that does not verify stays an HsmError of kind `data`. */
export async function decryptInKeyStore(
  deps: KmsDeps,
  key: KeyRecord,
  material: MaterialRef,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
): Promise<Buffer> {
  const { store } = await locateKey(deps, key);
  const connection = await connections(deps).connectionFor(store, key.arn);
  return guard(deps, key, store, () => connection.decrypt({ label: key.keyId, reference: material.wrapped }, iv, ciphertext, aad));
}

/**
 * Destroys the token objects of a key whose records were just deleted (its deletion was due).
 * A store that is not connected cannot be reached: as in AWS, the key is gone anyway and the
 * object stays in the token, logged with its label for the owner to remove.
 */
export async function destroyKeyStoreMaterial(
  deps: KmsDeps,
  key: KeyRecord,
  store: CustomKeyStoreRecord,
  versions: KeyMaterialVersion[],
  logger: Logger,
): Promise<void> {
  if (store.type !== 'AWS_CLOUDHSM') return;
  if (store.connectionState !== 'CONNECTED') {
    logger.warn(
      { keyId: key.keyId, customKeyStoreId: store.customKeyStoreId, cluster: store.cloudHsmClusterId, label: key.keyId },
      'custom key store not connected: the key is deleted, its token object is left in the cluster',
    );
    return;
  }
  try {
    const connection: ClusterConnection = await connections(deps).connectionFor(store, key.arn);
    for (const v of versions) await connection.destroyKey({ label: key.keyId, reference: v.wrappedMaterial });
  } catch (error) {
    logger.warn(
      { keyId: key.keyId, customKeyStoreId: store.customKeyStoreId, cluster: store.cloudHsmClusterId, label: key.keyId, err: String(error) },
      'the key is deleted, but its token object could not be destroyed and is left in the cluster',
    );
  }
}

/**
 * Runs a call on a store's connection and turns what can go wrong into what the caller should
 * see: bad input stays as it is; a store whose token is gone becomes FAILED (and the caller is
 * told); a key object that is gone is KMSInvalidStateException; anything else propagates.
 */
async function guard<T>(deps: KmsDeps, key: KeyRecord, store: CustomKeyStoreRecord, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HsmError && error.kind === 'data') throw error;
    // A key that seems gone may be a token that is gone: the store's check tells which.
    const diagnosed = await connections(deps).diagnose(store, key.arn, error);
    if (diagnosed !== error) throw diagnosed;
    if (error instanceof KeyStoreKeyMissingError)
      throw new KmsError(
        'KMSInvalidStateException',
        `The key material of ${key.arn} is not in the token of custom key store ${store.customKeyStoreId} (cluster ${store.cloudHsmClusterId ?? '?'}): it was deleted or changed outside hsmkms.`,
      );
    throw error;
  }
}
