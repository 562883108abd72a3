/**
 * GenerateRandom: 1–1024 bytes from the HSM's RNG, or, with CustomKeyStoreId, from the token of
 * a CONNECTED token-backed (AWS_CLOUDHSM) key store, as in AWS.
 */
import { KmsError } from '../errors.js';
import { connections, invalidState, resolveStore } from '../key-stores/rules.js';
import type { Operation } from '../operation.js';
import { blob, optionalInteger, optionalString } from '../validation.js';
import { rejectRecipient } from './crypto-helpers.js';

export const generateRandom: Operation = {
  name: 'GenerateRandom',
  async run(deps, ctx, input) {
    const numberOfBytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
    const customKeyStoreId = optionalString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
    rejectRecipient(input);
    // The model leaves NumberOfBytes optional; AWS KMS refuses its absence in these words (recorded).
    if (numberOfBytes === undefined) throw new KmsError('ValidationException', 'NumberOfBytes is required.');
    const store = customKeyStoreId === undefined ? undefined : await resolveStore(deps.store, customKeyStoreId);
    if (store?.type === 'EXTERNAL_KEY_STORE')
      throw new KmsError('UnsupportedOperationException', `GenerateRandom does not take an external key store (${store.customKeyStoreId}), as in AWS.`);
    if (store && store.connectionState !== 'CONNECTED') throw invalidState(store, 'GenerateRandom needs a CONNECTED key store.');

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:GenerateRandom', context: {} });

    if (!store) return { Plaintext: blob(await deps.backend.generateRandom(numberOfBytes)) };
    const connection = await connections(deps).connectionFor(store, 'GenerateRandom');
    return { Plaintext: blob(await connection.generateRandom(numberOfBytes)) };
  },
};
