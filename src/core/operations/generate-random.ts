/** GenerateRandom: 1–1024 bytes from the HSM's RNG. Custom key stores do not exist here yet. */
import { KmsError } from '../errors.js';
import type { Operation } from '../operation.js';
import { blob, constraintError, optionalInteger, optionalString } from '../validation.js';
import { rejectRecipient } from './crypto-helpers.js';

export const generateRandom: Operation = {
  name: 'GenerateRandom',
  async run(deps, ctx, input) {
    const numberOfBytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
    const customKeyStoreId = optionalString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
    rejectRecipient(input);
    if (numberOfBytes === undefined) throw constraintError('NumberOfBytes', null, 'Member must not be null');
    if (customKeyStoreId !== undefined)
      throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store '${customKeyStoreId}' does not exist.`);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:GenerateRandom', context: {} });

    return { Plaintext: blob(await deps.backend.generateRandom(numberOfBytes)) };
  },
};
