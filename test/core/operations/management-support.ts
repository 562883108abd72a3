/**
 * Helpers for the key-management operation tests: calling an operation as the test root,
 * asserting a KMS error by AWS exception name, and snapshotting everything the store holds
 * so a failed operation can be shown to have written nothing.
 */
import { expect } from 'vitest';
import { KmsError, type KmsErrorName } from '../../../src/core/errors.js';
import type { JsonObject, Operation } from '../../../src/core/operation.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import type { TestKms } from '../../support/kms-deps.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

export function call(kms: TestKms, operation: Operation, input: JsonObject): Promise<JsonObject> {
  return operation.run(kms.deps, kms.ctx, input);
}

/** Awaits a rejection and checks it is the KMS error a client would see. */
export async function expectKmsError(
  promise: Promise<unknown>,
  type: KmsErrorName,
  message?: string | RegExp,
): Promise<KmsError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${type}`).toBeInstanceOf(KmsError);
  const error = caught as KmsError;
  expect(error.type).toBe(type);
  if (typeof message === 'string') expect(error.message).toContain(message);
  else if (message) expect(error.message).toMatch(message);
  return error;
}

/** A new key through CreateKey; returns its id and ARN. */
export async function newKey(kms: TestKms, input: JsonObject = {}): Promise<{ keyId: string; arn: string }> {
  const out = await call(kms, createKey, input);
  const metadata = out.KeyMetadata as { KeyId: string; Arn: string };
  return { keyId: metadata.KeyId, arn: metadata.Arn };
}

/** Everything the store holds about keys, aliases and tags. */
export async function storeSnapshot(kms: TestKms): Promise<unknown> {
  const keys = (await kms.store.listKeys(1000)).items;
  const perKey = await Promise.all(
    keys.map(async (k) => ({
      key: k,
      versions: await kms.store.listKeyVersions(k.keyId),
      tags: await kms.store.getTags(k.keyId),
    })),
  );
  const aliases = (await kms.store.listAliases({ limit: 1000 })).items;
  return { perKey, aliases };
}

/** Runs `action`, expects the KMS error, and checks the store is exactly as before. */
export async function expectNoWrite(
  kms: TestKms,
  action: () => Promise<unknown>,
  type: KmsErrorName,
  message?: string | RegExp,
): Promise<KmsError> {
  const before = await storeSnapshot(kms);
  const error = await expectKmsError(action(), type, message);
  expect(await storeSnapshot(kms)).toEqual(before);
  return error;
}
