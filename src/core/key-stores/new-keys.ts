/** CreateKey's rules for keys in a custom key store (CustomKeyStoreId, Origin, XksKeyId). */
import { KmsError } from '../errors.js';
import type { KeySpec, KeyUsage, Origin } from '../model.js';
import type { KmsDeps } from '../operation.js';
import { isCustomKeyStoreOrigin, type CustomKeyStoreRecord } from './model.js';
import { invalidState, resolveStore } from './rules.js';

export interface NewKeyRequest {
  origin: Origin;
  customKeyStoreId?: string | undefined;
  xksKeyId?: string | undefined;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  multiRegion: boolean;
}

/**
 * The custom key store a new key goes into, after AWS's checks: the Origin must match the
 * store's type, only single-Region symmetric encryption keys, and the store must be CONNECTED.
 * Undefined for keys of the default store.
 */
export async function storeForNewKey(deps: KmsDeps, request: NewKeyRequest): Promise<CustomKeyStoreRecord | undefined> {
  const { origin, customKeyStoreId, xksKeyId } = request;
  if (xksKeyId !== undefined && origin !== 'EXTERNAL_KEY_STORE')
    throw new KmsError('ValidationException', 'XksKeyId is valid only for keys with Origin EXTERNAL_KEY_STORE.');
  if (!isCustomKeyStoreOrigin(origin)) {
    if (customKeyStoreId !== undefined)
      throw new KmsError('ValidationException', `CustomKeyStoreId needs Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE (the store's type), not ${origin}.`);
    return undefined;
  }
  if (customKeyStoreId === undefined) throw new KmsError('ValidationException', `Origin ${origin} needs the CustomKeyStoreId of a custom key store of that type.`);
  if (origin === 'EXTERNAL_KEY_STORE' && xksKeyId === undefined) throw new KmsError('ValidationException', 'Origin EXTERNAL_KEY_STORE needs XksKeyId, the id of the key in the external key manager.');
  if (request.keySpec !== 'SYMMETRIC_DEFAULT' || request.keyUsage !== 'ENCRYPT_DECRYPT' || request.multiRegion)
    throw new KmsError('UnsupportedOperationException', 'Custom key stores hold single-Region symmetric encryption keys only (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT).');
  const store = await resolveStore(deps.store, customKeyStoreId);
  if (store.type !== origin)
    throw new KmsError('ValidationException', `Custom key store ${store.customKeyStoreId} is of type ${store.type}; keys in it have Origin ${store.type}, not ${origin}.`);
  if (store.connectionState !== 'CONNECTED') throw invalidState(store, 'keys can be created only in a CONNECTED custom key store.');
  return store;
}
