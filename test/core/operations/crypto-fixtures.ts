/** Shared set-up for the cryptographic operation tests: real keys on the run's SoftHSM2 token. */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { KmsError, type KmsErrorName } from '../../../src/core/errors.js';
import type { KeyRecord, KeySpec, KeyUsage } from '../../../src/core/model.js';
import type { JsonObject, Operation } from '../../../src/core/operation.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import type { TestKms } from '../../support/kms-deps.js';

export const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64');
export const bytesOf = (value: unknown): Buffer => Buffer.from(value as string, 'base64');

/** Runs an operation as the test principal. */
export function call(kms: TestKms, operation: Operation, input: JsonObject): Promise<JsonObject> {
  return operation.run(kms.deps, kms.ctx, input);
}

/** Creates a key through CreateKey and returns its stored record. */
export async function newKey(kms: TestKms, keySpec: KeySpec = 'SYMMETRIC_DEFAULT', keyUsage?: KeyUsage, extra: JsonObject = {}): Promise<KeyRecord> {
  const out = await call(kms, createKey, { KeySpec: keySpec, ...(keyUsage ? { KeyUsage: keyUsage } : {}), ...extra });
  const keyId = (out.KeyMetadata as { KeyId: string }).KeyId;
  const key = await kms.store.getKey(keyId);
  if (!key) throw new Error('CreateKey did not store the key');
  return key;
}

/** Gives a key new current material, as a rotation does, keeping the old version. */
export async function addVersion(kms: TestKms, key: KeyRecord): Promise<string> {
  const material = await kms.backend.generateKeyMaterial(key.keySpec);
  const versionId = randomBytes(32).toString('hex');
  const current = (await kms.store.getKey(key.keyId))!;
  await kms.store.transaction(async (tx) => {
    await tx.insertKeyVersion({ keyId: key.keyId, versionId, createdAt: new Date(), wrappedMaterial: material.wrapped, publicKey: material.publicKey });
    expect(await tx.updateKey({ ...current, currentVersionId: versionId, revision: current.revision + 1 })).toBe(true);
  });
  return versionId;
}

/** Sets a key's state directly (for states no operation of ours produces). */
export async function setState(kms: TestKms, key: KeyRecord, keyState: KeyRecord['keyState']): Promise<void> {
  const current = (await kms.store.getKey(key.keyId))!;
  expect(await kms.store.updateKey({ ...current, keyState, revision: current.revision + 1 })).toBe(true);
}

/** Asserts that `promise` rejects with the named KMS error (and optionally a message fragment). */
export async function expectKmsError(promise: Promise<unknown>, type: KmsErrorName, message?: string | RegExp): Promise<KmsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KmsError);
    const kmsErr = err as KmsError;
    expect(kmsErr.type, kmsErr.message).toBe(type);
    if (message !== undefined) expect(kmsErr.message).toMatch(message);
    return kmsErr;
  }
  throw new Error(`expected ${type}, but the call succeeded`);
}
