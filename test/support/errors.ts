/** Errors as tests read them: the KmsError a core call throws, the error an AWS SDK call raises. */
import { expect } from 'vitest';
import { KmsError } from '../../src/core/errors.js';

/** The KmsError a synchronous call throws; fails the test when it throws nothing or something else. */
export function thrownKmsError(fn: () => unknown): KmsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsError);
    return error as KmsError;
  }
  throw new Error('expected a KmsError');
}

/** The AWS SDK's error for a failed call: its exception name, message and HTTP status; fails the test when the call succeeds. */
export async function sdkFailure(promise: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
}
