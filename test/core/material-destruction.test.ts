/**
 * The token object of an Ed25519 key (its only material) is destroyed once no key references
 * it, and only then (src/core/material-destruction.ts): a CreateKey whose commit was reported
 * failed but landed keeps it, one that did not land loses it — at once when the store can say
 * so, through the scheduler when it cannot. Real SoftHSM2 (checked with pkcs11-tool) and a real
 * SQLite store, with faults injected at the store's port.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKey } from '../../src/core/operations/create-key.js';
import { sign } from '../../src/core/operations/sign.js';
import { CREATION_GRACE_MS } from '../../src/core/material-destruction.js';
import { startScheduler, type Scheduler } from '../../src/core/scheduler.js';
import { createTestKms, type TestKms } from '../support/kms-deps.js';
import { call, expectKmsError } from './operations/management-support.js';
import { faultyStore, tokenHoldsObject, type FaultyStore } from './material-destruction-support.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';

const ED25519 = { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' };

let kms: TestKms;
let faults: FaultyStore;
let logs: LogLine[];
let scheduler: Scheduler;
beforeEach(async () => {
  kms = await createTestKms();
  faults = faultyStore(kms.store);
  kms.deps.store = faults.store;
  logs = [];
  kms.deps.logger = memoryLogger(logs);
  scheduler = startScheduler(kms.deps, memoryLogger(logs), { intervalMs: 3_600_000 });
});
afterEach(async () => {
  await scheduler.stop();
  await kms.close();
});

const createFails = () => call(kms, createKey, ED25519).then(
  () => expect.fail('CreateKey succeeded'),
  (error: unknown) => error,
);

describe('CreateKey of an Ed25519 key whose transaction is reported failed', () => {
  it('keeps the token object when the commit landed after all: the key signs', async () => {
    faults.nextTransaction = 'lost-commit';
    await createFails();
    // The key the client was told failed exists, with its material.
    const [key] = (await kms.store.listKeys(10)).items;
    expect(key).toMatchObject({ keyState: 'Enabled', keySpec: 'ECC_NIST_EDWARDS25519' });
    const [version] = await kms.store.listKeyVersions(key!.keyId);
    expect(tokenHoldsObject(version!.wrappedMaterial)).toBe(true);
    const signed = await call(kms, sign, { KeyId: key!.keyId, Message: Buffer.from('m').toString('base64'), SigningAlgorithm: 'ED25519_SHA_512' });
    expect(signed.Signature).toBeDefined();
    // The transaction that inserted the key withdrew the record: no pass ever destroys it.
    kms.clock.advance(CREATION_GRACE_MS * 100);
    await scheduler.runOnce();
    expect(tokenHoldsObject(version!.wrappedMaterial)).toBe(true);
    expect(await kms.store.listMaterialDestructionsDue(kms.clock.now(), 10)).toEqual([]);
  });

  it('destroys the token object at once when the store confirms the key does not exist', async () => {
    faults.nextTransaction = 'fail';
    await createFails();
    const [recorded] = faults.recorded;
    expect(await kms.store.getKey(recorded!.keyId)).toBeUndefined();
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(false);
    expect(await kms.store.listMaterialDestructionsDue(new Date(kms.clock.now().getTime() + CREATION_GRACE_MS), 10)).toEqual([]);
  });

  it('leaves the token object while the store cannot say, and the scheduler destroys it later', async () => {
    faults.nextTransaction = 'fail';
    faults.unreachable = true;
    await createFails();
    faults.unreachable = false;
    const [recorded] = faults.recorded;
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(true);
    // Not while a CreateKey could still be in progress.
    kms.clock.advance(CREATION_GRACE_MS - 1);
    await scheduler.runOnce();
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(true);
    kms.clock.advance(1);
    await scheduler.runOnce();
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(false);
    expect(await kms.store.listMaterialDestructionsDue(kms.clock.now(), 10)).toEqual([]);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('is refused, with no key, when the scheduler began destroying its object before the key was recorded', async () => {
    // A CreateKey that stalled past the grace period: a scheduler pass runs just before its transaction.
    faults.beforeTransaction = async () => {
      faults.beforeTransaction = undefined;
      kms.clock.advance(CREATION_GRACE_MS);
      await scheduler.runOnce();
    };
    const error = await expectKmsError(call(kms, createKey, ED25519), 'KMSInternalException', /given up before the key could be recorded/);
    expect(error).toBeDefined();
    const [recorded] = faults.recorded;
    expect(await kms.store.getKey(recorded!.keyId)).toBeUndefined();
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(false);
    expect(await kms.store.listMaterialDestructionsDue(new Date(kms.clock.now().getTime() + 3_600_000), 10)).toEqual([]);
  });

  it('is not kept waiting by a clock set back after the record was written', async () => {
    faults.nextTransaction = 'fail';
    faults.unreachable = true;
    await createFails();
    faults.unreachable = false;
    const [recorded] = faults.recorded;
    kms.clock.advance(-24 * 3_600_000);
    await scheduler.runOnce();
    expect(tokenHoldsObject(recorded!.wrappedMaterial)).toBe(false);
  });

  it('records nothing for material that is a wrapped blob', async () => {
    faults.nextTransaction = 'fail';
    await expect(call(kms, createKey, {})).rejects.toThrow();
    expect(faults.recorded).toEqual([]);
  });
});
