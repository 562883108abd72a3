/**
 * The scheduler's retries of what a multi-Region primary tells its replica regions
 * (src/core/multi-region/replication-jobs.ts), on a real store and token; the other region is a
 * scripted RegionPeers (the two-deployment suite, test/api/multi-region.test.ts, uses real ones).
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JsonObject } from '../../../src/core/operation.js';
import { PeerError, type RegionPeers } from '../../../src/core/multi-region/ports.js';
import { enqueueJob, LEASE_MS, LEASE_RENEWAL_MS, retryDelayMs, runReplicationJobs, tryJobNow } from '../../../src/core/multi-region/replication-jobs.js';
import { syncMultiRegionKey } from '../../../src/core/multi-region/sync-multi-region-key.js';
import { cancelKeyDeletion } from '../../../src/core/operations/cancel-key-deletion.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { enableKey } from '../../../src/core/operations/enable-key.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { replicateKey } from '../../../src/core/operations/replicate-key.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { updatePrimaryRegion } from '../../../src/core/operations/update-primary-region.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { rotateKeyOnDemand } from '../../../src/core/operations/rotate-key-on-demand.js';
import type { Logger } from '../../../src/core/ports.js';
import { peerRegionRefusal } from '../../../src/core/authorization/peer-region.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError } from '../operations/management-support.js';

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };
/** What a deployment answers a RegionPeer made before `hsmkms:PeerRegion` existed (peer-region.ts). */
const UNBOUND_REFUSAL = `User: arn:aws:iam::111122223333:user/replicator-us-east-1 is not authorized to perform: hsmkms:PrepareReplica on resource: * ${peerRegionRefusal(
  { name: 'replicator-us-east-1', isRoot: false, roles: ['RegionPeer'], tags: [] },
  'hsmkms:PrepareReplica',
  {},
)}`;

let kms: TestKms;
let answer: 'ok' | 'down' | 'gone' | 'refused' | 'slow' | 'mismatch' | 'unbound';
/** Ends the peer's slow answer (answer 'slow'). */
let answerNow: () => void = () => {};
/** A transport public key such as a peer's PrepareReplica offers (SubjectPublicKeyInfo, base64). */
const TRANSPORT_KEY = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
let calls: Array<{ region: string; operation: string; input: JsonObject }>;

beforeEach(async () => {
  kms = await createTestKms();
  answer = 'ok';
  calls = [];
  const peers: RegionPeers = {
    has: async () => true,
    async call(region, operation, input) {
      calls.push({ region, operation, input });
      if (answer === 'slow') await new Promise<void>((resolve) => (answerNow = resolve));
      if (answer === 'down') throw new PeerError('PeerUnreachable', 'connection refused', 0);
      if (answer === 'gone') throw new PeerError('NotFoundException', `Key '${String(input.KeyId)}' does not exist`, 400);
      if (answer === 'refused') throw new PeerError('AccessDeniedException', 'the peer principal may not create keys here', 400);
      if (answer === 'unbound') throw new PeerError('AccessDeniedException', UNBOUND_REFUSAL, 400);
      // What ImportReplica(Versions) answers when the material does not match the PublicKey sent with it.
      if (answer === 'mismatch' && (operation === 'ImportReplica' || operation === 'ImportReplicaVersions'))
        throw new PeerError('IncorrectKeyMaterialException', 'The material sent for the key is not an ECC_NIST_P256 key matching its PublicKey', 400);
      if (operation === 'PrepareReplica') return { TransportKeyId: 'transport-1', PublicKey: TRANSPORT_KEY, TransportHashes: ['SHA_256', 'SHA_1'] };
      return { KeyState: 'Enabled' };
    },
  };
  kms.deps.regionPeers = peers;
});
afterEach(() => kms.close());

/** Waits (real time, at most 5 s) until `condition` holds; throws if it never does. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition never held');
}

/** A multi-Region primary here with a replica in eu-west-1. */
async function primaryWithReplica(): Promise<string> {
  const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
  const record = (await kms.store.multiRegion.getMultiRegionKey(keyId))!;
  await kms.store.multiRegion.updateMultiRegionKey({ ...record, regions: [...record.regions, { region: 'eu-west-1', state: 'Active' }], revision: record.revision + 1 });
  return keyId;
}

describe('multi-Region replication jobs', () => {
  it('a region that missed a change is told again by the scheduler, with backoff, until it answers', async () => {
    const keyId = await primaryWithReplica();
    answer = 'down';
    await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 200 });
    expect(calls).toHaveLength(1);
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'sync', attempts: 0 }]);

    await runReplicationJobs(kms.deps, SILENT);
    expect(calls).toHaveLength(2);
    const [deferred] = await kms.store.multiRegion.listReplicationJobs({ limit: 10 });
    expect(deferred).toMatchObject({ attempts: 1, lastError: expect.stringMatching(/could not be reached/) });
    expect(deferred!.nextAttemptAt.getTime()).toBe(kms.clock.now().getTime() + retryDelayMs(1));

    answer = 'ok';
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls).toHaveLength(2);
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls).toHaveLength(3);
    expect(calls[2]).toMatchObject({ region: 'eu-west-1', operation: 'SyncMultiRegionKey', input: { KeyId: keyId, PrimaryRegion: 'us-east-1', RotationEnabled: true, RotationPeriodInDays: 200 } });
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
    expect([retryDelayMs(1), retryDelayMs(2), retryDelayMs(20)]).toStrictEqual([30_000, 60_000, 3_600_000]);
    // A shorter first delay (serve's --scheduler-interval when under 30 s) doubles the same way.
    expect([retryDelayMs(1, 200), retryDelayMs(3, 200), retryDelayMs(30, 200)]).toStrictEqual([200, 800, 3_600_000]);
  });

  it('a job a runner holds (its lease not yet over) is not run again by a request asking for it now', async () => {
    const keyId = await primaryWithReplica();
    const id = { keyId, region: 'eu-west-1', kind: 'sync' as const };
    await enqueueJob(kms.store, new Date(Date.now() - 1_000), id);
    const job = (await kms.store.multiRegion.getReplicationJob(id))!;
    // The scheduler's claim: the job's next attempt moves to the end of its lease.
    expect(await kms.store.multiRegion.claimReplicationJob(job, new Date(Date.now() + 60_000))).toBeDefined();
    calls = [];
    expect(await tryJobNow(kms.deps, id)).toBeUndefined();
    expect(calls).toStrictEqual([]);
  });

  it('a run longer than a lease renews it: no second runner takes the job meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const keyId = await primaryWithReplica();
      const id = { keyId, region: 'eu-west-1', kind: 'sync' as const };
      await enqueueJob(kms.store, kms.clock.now(), id);
      answer = 'slow';
      const run = runReplicationJobs(kms.deps, SILENT);
      await until(() => calls.length === 1);
      // The peer takes longer than a lease; the clock and the run's timers move on together.
      for (let elapsed = 0; elapsed <= LEASE_MS; elapsed += LEASE_RENEWAL_MS) {
        kms.clock.advance(LEASE_RENEWAL_MS);
        await vi.advanceTimersByTimeAsync(LEASE_RENEWAL_MS);
        const leaseEnd = kms.clock.now().getTime() + LEASE_MS;
        await until(async () => (await kms.store.multiRegion.getReplicationJob(id))?.leasedUntil?.getTime() === leaseEnd);
        // Another pass (or node, or a request's fast path) finds the job held, not due.
        await runReplicationJobs(kms.deps, SILENT);
        expect(await tryJobNow(kms.deps, id)).toBeUndefined();
        expect(calls).toHaveLength(1);
      }
      answerNow();
      await run;
      expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it.each(['done', 'failed'] as const)('a job asked for again while a runner holds it waits for that run (%s), then is due at once', async (outcome) => {
    const keyId = await primaryWithReplica();
    const id = { keyId, region: 'eu-west-1', kind: 'sync' as const };
    const now = kms.clock.now().getTime();
    await enqueueJob(kms.store, new Date(now - 1_000), id);
    const job = (await kms.store.multiRegion.getReplicationJob(id))!;
    const held = (await kms.store.multiRegion.claimReplicationJob(job, new Date(now + 60_000)))!;
    expect(held).toBeDefined();
    calls = [];
    // A request asks for the job again while the runner's run is under way (as a sync that failed
    // or a ScheduleKeyDeletion does, with its fast path): it must not run beside that run, whose
    // older answer could reach the peer last.
    await enqueueJob(kms.store, kms.clock.now(), id, { asked: 'again' });
    expect(await tryJobNow(kms.deps, id)).toBeUndefined();
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls).toStrictEqual([]);
    expect(await kms.store.multiRegion.retryReplicationJobs(kms.clock.now())).toBe(0);
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls).toStrictEqual([]);
    // The runner's run ends: the job asked for again runs next, not after the lease or a backoff.
    if (outcome === 'done') await kms.store.multiRegion.completeReplicationJob(held);
    else await kms.store.multiRegion.deferReplicationJob(held, { attempts: 1, nextAttemptAt: new Date(now + retryDelayMs(1)), lastError: 'connection refused' });
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls.map((c) => c.operation)).toStrictEqual(['SyncMultiRegionKey']);
    expect(calls[0]!.input).toMatchObject({ KeyId: keyId, PrimaryRegion: 'us-east-1' });
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
  });

  it('a region whose replica is gone leaves the set, and the job ends', async () => {
    const keyId = await primaryWithReplica();
    answer = 'down';
    await call(kms, enableKeyRotation, { KeyId: keyId });
    answer = 'gone';
    await runReplicationJobs(kms.deps, SILENT);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
  });

  it('a rotation reaches every replica region before its version is current: Updating while one cannot be reached; replica gone, the region leaves the set', async () => {
    const keyId = await primaryWithReplica();
    const before = (await kms.store.getKey(keyId))!.currentVersionId;
    const state = async () => ((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as { KeyState: string }).KeyState;
    answer = 'down';
    await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    expect((await kms.store.getKey(keyId))!.currentVersionId).toBe(before);
    const staged = (await kms.store.listKeyVersions(keyId)).find((v) => v.versionId !== before)!;
    expect(staged).toBeDefined();
    expect(await state()).toBe('Updating');
    await call(kms, encrypt, { KeyId: keyId, Plaintext: Buffer.from('still usable').toString('base64') });
    await expectKmsError(call(kms, rotateKeyOnDemand, { KeyId: keyId }), 'KMSInvalidStateException', 'Updating');

    answer = 'ok';
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls.filter((c) => c.operation === 'ImportReplicaVersions').at(-1)!.input).toMatchObject({ KeyId: keyId, Versions: [{ KeyMaterialId: staged.versionId }] });
    expect(calls.at(-1)).toMatchObject({ region: 'eu-west-1', operation: 'SyncMultiRegionKey', input: { CurrentKeyMaterialId: staged.versionId } });
    expect((await kms.store.getKey(keyId))!.currentVersionId).toBe(staged.versionId);
    expect(await state()).toBe('Enabled');
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);

    answer = 'gone';
    await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    expect((await kms.store.getKey(keyId))!.currentVersionId).not.toBe(staged.versionId);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(await kms.store.multiRegion.listTransferMaterial(keyId)).toHaveLength(3);
    expect(await state()).toBe('Enabled');
  });
});

describe('multi-Region work that waits for a region (Creating, Updating, PendingReplicaDeletion)', () => {
  const metadataOf = async (keyId: string) => (await call(kms, describeKey, { KeyId: keyId })).KeyMetadata as Record<string, any>;
  const jobs = () => kms.store.multiRegion.listReplicationJobs({ limit: 10 });

  it('ReplicateKey to an unreachable region: Creating at once, created by the scheduler once it answers', async () => {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    answer = 'down';
    const out = await call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1', Description: 'later' });
    expect(out.ReplicaKeyMetadata).toMatchObject({ KeyId: keyId, Arn: `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`, KeyState: 'Creating', Enabled: false, Description: 'later' });
    expect((out.ReplicaKeyMetadata as any).MultiRegionConfiguration).toMatchObject({ MultiRegionKeyType: 'REPLICA', PrimaryKey: { Region: 'us-east-1' } });
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions).toStrictEqual([
      { region: 'us-east-1', state: 'Active' },
      { region: 'eu-west-1', state: 'Creating' },
    ]);
    expect((await metadataOf(keyId)).MultiRegionConfiguration.ReplicaKeys).toStrictEqual([{ Arn: `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`, Region: 'eu-west-1' }]);
    const [waiting] = await jobs();
    expect(waiting).toMatchObject({ kind: 'replicate', region: 'eu-west-1', attempts: 1, lastError: expect.stringMatching(/could not be reached/) });
    await expectKmsError(call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' }), 'AlreadyExistsException', 'eu-west-1');
    await expectKmsError(call(kms, updatePrimaryRegion, { KeyId: keyId, PrimaryRegion: 'eu-west-1' }), 'KMSInvalidStateException', 'still being created');

    answer = 'ok';
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    const imported = calls.filter((c) => c.operation === 'ImportReplica');
    expect(imported).toHaveLength(1);
    expect(imported[0]!.input).toMatchObject({ KeyId: keyId, PrimaryRegion: 'us-east-1', Regions: ['us-east-1'], Description: 'later', TransportKeyId: 'transport-1' });
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.state)).toStrictEqual(['Active', 'Active']);
    expect(await jobs()).toStrictEqual([]);
    expect(kms.audit.filter((e) => e.eventName === 'ReplicateKey' && e.actor?.type === 'AWSService')).toMatchObject([{ additionalEventData: { region: 'eu-west-1' } }]);
  });

  /** A replica asked for while its region cannot be reached, then the scheduler's retry answered `refusal`; what was logged as errors. */
  async function replicaRetriedInto(refusal: typeof answer): Promise<{ keyId: string; errors: unknown[]; logger: Logger }> {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    answer = 'down';
    await call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' });
    answer = refusal;
    const errors: unknown[] = [];
    const logger: Logger = { ...SILENT, error: (fields: unknown) => void errors.push(fields), child: () => logger };
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, logger);
    return { keyId, errors, logger };
  }

  it('a replica the peer refuses for good leaves the set; the refusal is logged and audited', async () => {
    const { keyId, errors, logger } = await replicaRetriedInto('refused');
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    // What the region may have recorded (a `Creating` placeholder) is removed there by the next pass.
    expect(await jobs()).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'abandon', payload: JSON.stringify({ PrimaryRegion: 'us-east-1' }) }]);
    expect(errors).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'replicate', err: { type: 'AccessDeniedException' } }]);
    expect(kms.audit.filter((e) => e.actor?.type === 'AWSService')).toMatchObject([{ eventName: 'ReplicateKey', errorCode: 'AccessDeniedException' }]);
    answer = 'ok';
    await runReplicationJobs(kms.deps, logger);
    expect(calls.at(-1)).toMatchObject({ region: 'eu-west-1', operation: 'AbandonReplica', input: { KeyId: keyId, PrimaryRegion: 'us-east-1' } });
    expect(await jobs()).toStrictEqual([]);
    answer = 'refused';
    // Within the call's own wait, the refusal is the call's answer, and nothing stays behind.
    await expectKmsError(call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' }), 'AccessDeniedException', 'eu-west-1');
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
  });

  it('material the replica region finds not matching (IncorrectKeyMaterialException) is a refusal for good: given up, logged and audited with the reason, never retried', async () => {
    const { keyId, errors } = await replicaRetriedInto('mismatch');
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(await jobs()).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'abandon' }]);
    expect(errors).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'replicate', err: { type: 'IncorrectKeyMaterialException' } }]);
    expect(kms.audit.filter((e) => e.actor?.type === 'AWSService')).toMatchObject([
      { eventName: 'ReplicateKey', errorCode: 'IncorrectKeyMaterialException', errorMessage: expect.stringMatching(/^eu-west-1: The material sent .* not .* matching its PublicKey/) },
    ]);
    // Within the call's own wait it is the call's answer.
    await expectKmsError(call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' }), 'IncorrectKeyMaterialException', 'matching its PublicKey');

    // A rotation's new version refused the same way: the rotation is given up (no longer Updating), not retried.
    const rotating = await primaryWithReplica();
    await call(kms, rotateKeyOnDemand, { KeyId: rotating });
    await until(async () => (await jobs()).every((j) => j.keyId !== rotating));
    expect(await metadataOf(rotating)).toMatchObject({ KeyState: 'Enabled' });
    expect(kms.audit.filter((e) => e.actor?.type === 'AWSService' && e.eventName === 'RotateKey')).toMatchObject([{ errorCode: 'IncorrectKeyMaterialException' }]);
  });

  it('a peer principal not yet bound to this region (made before hsmkms:PeerRegion) is waited for, with the command that binds it: nothing is given up', async () => {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    const warnings: Array<Record<string, any>> = [];
    const logger: Logger = { ...SILENT, warn: (fields: unknown) => void warnings.push(fields as Record<string, any>), child: () => logger };
    answer = 'down';
    await call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' });
    answer = 'unbound';
    const command = 'hsmkms principal tag replicator-us-east-1 --tag hsmkms:PeerRegion=us-east-1';
    for (let attempt = 2; attempt <= 4; attempt++) {
      kms.clock.advance(retryDelayMs(attempt - 1));
      await runReplicationJobs(kms.deps, logger);
      expect(await jobs()).toMatchObject([{ keyId, region: 'eu-west-1', kind: 'replicate', attempts: attempt, lastError: expect.stringContaining(command) }]);
    }
    expect(warnings.map((w) => w.err?.message)).toStrictEqual([expect.stringContaining(command), expect.stringContaining(command), expect.stringContaining(command)]);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions).toStrictEqual([
      { region: 'us-east-1', state: 'Active' },
      { region: 'eu-west-1', state: 'Creating' },
    ]);
    expect(kms.audit.filter((e) => e.actor?.type === 'AWSService')).toStrictEqual([]);
    // A removal (AbandonReplica) refused the same way is retried as well.
    await enqueueJob(kms.store, kms.clock.now(), { keyId: `mrk-${'a'.repeat(32)}`, region: 'eu-west-1', kind: 'abandon' }, { PrimaryRegion: 'us-east-1' });
    await runReplicationJobs(kms.deps, logger);
    expect((await jobs()).find((j) => j.kind === 'abandon')).toMatchObject({ attempts: 1, lastError: expect.stringContaining(command) });

    // Once the operator has bound it, the replica is made.
    answer = 'ok';
    kms.clock.advance(retryDelayMs(4));
    await runReplicationJobs(kms.deps, SILENT);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.state)).toStrictEqual(['Active', 'Active']);
  });

  it('UpdatePrimaryRegion to an unreachable region: Updating (still usable) until the new primary has taken over', async () => {
    const keyId = await primaryWithReplica();
    answer = 'down';
    await call(kms, disableKey, { KeyId: keyId });
    await expectKmsError(call(kms, updatePrimaryRegion, { KeyId: keyId, PrimaryRegion: 'eu-west-1' }), 'KMSInvalidStateException', 'must be Enabled');
    await call(kms, enableKey, { KeyId: keyId });
    expect(await call(kms, updatePrimaryRegion, { KeyId: keyId, PrimaryRegion: 'eu-west-1' })).toStrictEqual({});
    expect(await metadataOf(keyId)).toMatchObject({ KeyState: 'Updating', MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY' } });
    await call(kms, encrypt, { KeyId: keyId, Plaintext: Buffer.from('still usable').toString('base64') });
    await expectKmsError(call(kms, updatePrimaryRegion, { KeyId: keyId, PrimaryRegion: 'eu-west-1' }), 'KMSInvalidStateException', 'Updating');
    await expectKmsError(call(kms, scheduleKeyDeletion, { KeyId: keyId }), 'KMSInvalidStateException', 'Updating');
    await expectKmsError(call(kms, disableKey, { KeyId: keyId }), 'KMSInvalidStateException', 'Updating');

    answer = 'ok';
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls.at(-1)).toMatchObject({ region: 'eu-west-1', operation: 'SyncMultiRegionKey', input: { PrimaryRegion: 'eu-west-1' } });
    expect(await metadataOf(keyId)).toMatchObject({ KeyState: 'Enabled', MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Region: 'eu-west-1' } } });
    expect(await jobs()).toStrictEqual([]);
  });

  it('a replica becomes the primary only if it is Enabled (SyncMultiRegionKey from the old primary)', async () => {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    const record = (await kms.store.multiRegion.getMultiRegionKey(keyId))!;
    // This deployment holds a replica of a primary in eu-west-1.
    await kms.store.multiRegion.updateMultiRegionKey({ ...record, primaryRegion: 'eu-west-1', regions: [{ region: 'eu-west-1', state: 'Active' }, ...record.regions], revision: record.revision + 1 });
    await call(kms, disableKey, { KeyId: keyId });
    const promote = { KeyId: keyId, PrimaryRegion: 'us-east-1', Regions: ['us-east-1', 'eu-west-1'] };
    await expectKmsError(call(kms, syncMultiRegionKey, promote), 'KMSInvalidStateException', 'must be Enabled');
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.primaryRegion).toBe('eu-west-1');
    await call(kms, enableKey, { KeyId: keyId });
    await call(kms, syncMultiRegionKey, promote);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.primaryRegion).toBe('us-east-1');
  });

  it('a replica made the primary tells the third region itself, and its scheduler retries that region until it answers', async () => {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    const record = (await kms.store.multiRegion.getMultiRegionKey(keyId))!;
    // This deployment holds a replica of a primary in eu-west-1; ap-south-1 holds another replica.
    const regions = [{ region: 'eu-west-1', state: 'Active' as const }, ...record.regions, { region: 'ap-south-1', state: 'Active' as const }];
    await kms.store.multiRegion.updateMultiRegionKey({ ...record, primaryRegion: 'eu-west-1', regions, revision: record.revision + 1 });
    await call(kms, syncMultiRegionKey, { KeyId: keyId, PrimaryRegion: 'us-east-1', Regions: ['eu-west-1', 'us-east-1', 'ap-south-1'] });
    // The former primary (the caller) is not owed a job; the third region is.
    expect((await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).map((j) => [j.region, j.kind])).toStrictEqual([['ap-south-1', 'sync']]);

    answer = 'down';
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls.map((c) => c.region)).toStrictEqual(['ap-south-1']);
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toMatchObject([{ region: 'ap-south-1', kind: 'sync', attempts: 1 }]);

    answer = 'ok';
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    expect(calls.at(-1)).toMatchObject({ region: 'ap-south-1', operation: 'SyncMultiRegionKey', input: { KeyId: keyId, PrimaryRegion: 'us-east-1' } });
    expect(await kms.store.multiRegion.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
  });

  it('a rotation waits for a replica still being created, so the replica misses no version', async () => {
    const keyId = ((await call(kms, createKey, { MultiRegion: true })).KeyMetadata as { KeyId: string }).KeyId;
    const before = (await kms.store.getKey(keyId))!.currentVersionId!;
    answer = 'down';
    await call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'eu-west-1' });
    await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    expect((await metadataOf(keyId)).KeyState).toBe('Updating');
    const staged = (await kms.store.listKeyVersions(keyId)).find((v) => v.versionId !== before)!.versionId;

    answer = 'ok';
    for (let pass = 1; pass <= 3; pass++) {
      kms.clock.advance(retryDelayMs(pass));
      await runReplicationJobs(kms.deps, SILENT);
    }
    const created = calls.find((c) => c.operation === 'ImportReplica')!;
    expect((created.input.Versions as Array<{ KeyMaterialId: string }>).map((v) => v.KeyMaterialId).sort()).toStrictEqual([before, staged].sort());
    expect(created.input.CurrentKeyMaterialId).toBe(before);
    expect(calls.at(-1)).toMatchObject({ region: 'eu-west-1', operation: 'SyncMultiRegionKey', input: { CurrentKeyMaterialId: staged } });
    expect(await metadataOf(keyId)).toMatchObject({ KeyState: 'Enabled', CurrentKeyMaterialId: staged });
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.state)).toStrictEqual(['Active', 'Active']);
    expect(await jobs()).toStrictEqual([]);
  });

  it('ScheduleKeyDeletion of a primary with replicas: PendingReplicaDeletion, then PendingDeletion once they are gone', async () => {
    const keyId = await primaryWithReplica();
    const scheduled = await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    expect(scheduled).toStrictEqual({ KeyId: expect.stringContaining(keyId), KeyState: 'PendingReplicaDeletion', PendingWindowInDays: 7 });
    const pending = await metadataOf(keyId);
    expect(pending).toMatchObject({ KeyState: 'PendingReplicaDeletion', PendingDeletionWindowInDays: 7, Enabled: false });
    expect(pending.DeletionDate).toBeUndefined();
    await expectKmsError(call(kms, encrypt, { KeyId: keyId, Plaintext: 'AA==' }), 'KMSInvalidStateException', 'replica keys');
    await expectKmsError(call(kms, replicateKey, { KeyId: keyId, ReplicaRegion: 'ap-south-1' }), 'KMSInvalidStateException', 'pending deletion');
    await expectKmsError(call(kms, scheduleKeyDeletion, { KeyId: keyId }), 'KMSInvalidStateException', 'pending deletion');

    // Cancelled: back Disabled, and the job has nothing left to do.
    await call(kms, cancelKeyDeletion, { KeyId: keyId });
    expect(await metadataOf(keyId)).toMatchObject({ KeyState: 'Disabled' });
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    expect(await metadataOf(keyId)).toMatchObject({ KeyState: 'Disabled' });
    expect(await jobs()).toStrictEqual([]);

    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    answer = 'gone';
    kms.clock.advance(retryDelayMs(1));
    await runReplicationJobs(kms.deps, SILENT);
    const deleting = await metadataOf(keyId);
    expect(deleting).toMatchObject({ KeyState: 'PendingDeletion', DeletionDate: kms.clock.now().getTime() / 1000 + 7 * 86_400 });
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(await jobs()).toStrictEqual([]);
  });
});
