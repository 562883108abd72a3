/** The KmsError a synchronous call throws; fails the test when it throws nothing or something else. */
import { expect } from 'vitest';
import { KmsError } from '../../src/core/errors.js';

export function thrownKmsError(fn: () => unknown): KmsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsError);
    return error as KmsError;
  }
  throw new Error('expected a KmsError');
}
