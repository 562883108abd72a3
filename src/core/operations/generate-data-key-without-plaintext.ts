/** GenerateDataKeyWithoutPlaintext: GenerateDataKey that returns only the encrypted data key. */
import type { Operation } from '../operation.js';
import { generateDataKeyCommon } from './generate-data-key.js';

export const generateDataKeyWithoutPlaintext: Operation = {
  name: 'GenerateDataKeyWithoutPlaintext',
  run: (deps, ctx, input) => generateDataKeyCommon(deps, ctx, input, 'GenerateDataKeyWithoutPlaintext'),
};
