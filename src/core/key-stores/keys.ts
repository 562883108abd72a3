/**
 * KMS keys that live in a custom key store: creating their material there, using it, and
 * destroying it. The operations call these where a default-store key would call the backend;
 * everything about the ciphertext format stays the same (the blob names key and version).
 */
import { randomUUID } from 'node:crypto';
import { BackendError, KmsError } from '../errors.js';
import type { KeyMaterialVersion, KeyRecord } from '../model.js';
import type { KmsDeps } from '../operation.js';
import type { Logger, MaterialRef, SymmetricCiphertext } from '../ports.js';
import { isCustomKeyStoreOrigin, type CustomKeyStoreRecord, type KeyStoreKeyRecord } from './model.js';
import { KeyStoreKeyMissingError, type ClusterConnection, type XksRequestMetadata } from './ports.js';
import { connections } from './rules.js';
import { parseXksEnvelope, writeXksEnvelope, xksAad } from './xks-envelope.js';
import { createKeyError, cryptoError } from './xks-errors.js';

/** Who asked, for the `requestMetadata` an XKS proxy gets (and logs). */
export interface KeyStoreCaller {
  principalArn: string;
  requestId: string;
  /** The KMS operation, e.g. `Encrypt`, `GenerateDataKey`, `ReEncrypt`. */
  operation: string;
}

function xksMetadata(key: KeyRecord, operation: string, caller: KeyStoreCaller | undefined): XksRequestMetadata {
  return {
    kmsOperation: caller?.operation ?? operation,
    kmsRequestId: caller?.requestId ?? randomUUID(),
    awsPrincipalArn: caller?.principalArn ?? `arn:aws:iam::${key.accountId}:root`,
    kmsKeyArn: key.arn,
  };
}

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
 * New material for `key` in `store` (which must be CONNECTED). A token-backed store: an AES-256
 * object in the cluster's token labelled with the key id. An external store: the external key
 * (`xksKeyId`) is checked through the proxy, and hsmkms's own material for the inner layer of
 * double encryption is generated in the default token. Returns the version to record and a way
 * to undo the HSM step should recording fail.
 */
export async function createKeyStoreMaterial(
  deps: KmsDeps,
  key: KeyRecord,
  store: CustomKeyStoreRecord,
  versionId: string,
  xksKeyId?: string,
  caller?: KeyStoreCaller,
): Promise<{ version: KeyMaterialVersion; undo: () => Promise<void> }> {
  if (store.type === 'EXTERNAL_KEY_STORE') {
    await checkExternalKey(deps, key, store, xksKeyId!, caller);
    const material = await deps.backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    return { version: { keyId: key.keyId, versionId, createdAt: key.creationDate, wrappedMaterial: material.wrapped }, undo: async () => {} };
  }
  const connection = await connections(deps).connectionFor(store, key.arn);
  const reference = await guard(deps, key, store, () => connection.createKey(key.keyId));
  return {
    version: { keyId: key.keyId, versionId, createdAt: key.creationDate, wrappedMaterial: reference },
    undo: async () => {
      await connection.destroyKey({ label: key.keyId, reference });
    },
  };
}

/**
 * The external key must exist, be AES-256, encrypt and decrypt, and be enabled; and no other KMS
 * key of the store may use it. What the proxy says otherwise is AWS's CreateKey exception.
 */
async function checkExternalKey(deps: KmsDeps, key: KeyRecord, store: CustomKeyStoreRecord, xksKeyId: string, caller: KeyStoreCaller | undefined): Promise<void> {
  const user = await deps.store.keyStores.findKeyByXksKeyId(store.customKeyStoreId, xksKeyId);
  if (user)
    throw new KmsError('XksKeyAlreadyInUseException', `The external key ${xksKeyId} already backs KMS key ${user.keyId} in custom key store ${store.customKeyStoreId}.`);
  const proxy = await connections(deps).xksConnectionFor(store, key.arn);
  const metadata = await proxy.getKeyMetadata(xksKeyId, xksMetadata(key, 'CreateKey', caller)).catch((error: unknown) => {
    throw createKeyError(error);
  });
  const problems = [
    metadata.keySpec !== 'AES_256' && `its keySpec is ${metadata.keySpec.slice(0, 32)}, not AES_256`,
    !(metadata.keyUsage.includes('ENCRYPT') && metadata.keyUsage.includes('DECRYPT')) && 'it cannot both encrypt and decrypt',
    metadata.keyStatus !== 'ENABLED' && `its status is ${metadata.keyStatus.slice(0, 32)}`,
  ].filter(Boolean);
  if (problems.length > 0)
    throw new KmsError('XksKeyInvalidConfigurationException', `The external key ${xksKeyId} cannot back a KMS key: ${problems.join('; ')}.`);
}

/** AES-256-GCM under a custom key store key, with the same AAD the default store uses. */
export async function encryptInKeyStore(
  deps: KmsDeps,
  key: KeyRecord,
  material: MaterialRef,
  plaintext: Uint8Array,
  aad: Uint8Array,
  caller?: KeyStoreCaller,
): Promise<SymmetricCiphertext> {
  const { store, binding } = await locateKey(deps, key);
  if (store.type === 'EXTERNAL_KEY_STORE') {
    // Double encryption: in hsmkms's HSM first, then the result in the external key manager.
    const proxy = await connections(deps).xksConnectionFor(store, key.arn);
    const inner = await deps.backend.encryptSymmetric(material, plaintext, aad);
    const outer = await proxy.encrypt(binding.xksKeyId!, inner.ciphertext, xksAad(aad), xksMetadata(key, 'Encrypt', caller)).catch((error: unknown) => {
      throw cryptoError(error);
    });
    return { iv: inner.iv, ciphertext: writeXksEnvelope(outer) };
  }
  const connection = await connections(deps).connectionFor(store, key.arn);
  return guard(deps, key, store, () => connection.encrypt({ label: key.keyId, reference: material.wrapped }, plaintext, aad));
}

/** The inverse of {@link encryptInKeyStore}; a tag that does not verify stays a BackendError of kind `data`. */
export async function decryptInKeyStore(
  deps: KmsDeps,
  key: KeyRecord,
  material: MaterialRef,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  aad: Uint8Array,
  caller?: KeyStoreCaller,
): Promise<Buffer> {
  const { store, binding } = await locateKey(deps, key);
  if (store.type === 'EXTERNAL_KEY_STORE') {
    const outer = parseXksEnvelope(ciphertext);
    const proxy = await connections(deps).xksConnectionFor(store, key.arn);
    const inner = await proxy.decrypt(binding.xksKeyId!, outer, xksAad(aad), xksMetadata(key, 'Decrypt', caller)).catch((error: unknown) => {
      throw cryptoError(error);
    });
    return deps.backend.decryptSymmetric(material, iv, inner, aad);
  }
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
    if (error instanceof BackendError && error.kind === 'data') throw error;
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
