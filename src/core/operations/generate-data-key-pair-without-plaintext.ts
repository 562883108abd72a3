/** GenerateDataKeyPairWithoutPlaintext: GenerateDataKeyPair without the plaintext private key. */
import type { Operation } from '../operation.js';
import { generateDataKeyPairCommon } from './generate-data-key-pair.js';

export const generateDataKeyPairWithoutPlaintext: Operation = {
  name: 'GenerateDataKeyPairWithoutPlaintext',
  run: (deps, ctx, input) => generateDataKeyPairCommon(deps, ctx, input, 'GenerateDataKeyPairWithoutPlaintext'),
};
