/**
 * The scheduler's retries of what a multi-Region primary tells its replica regions
 * (src/core/multi-region/replication-jobs.ts), on a real store and token; the other region is a
 * scripted RegionPeers (the two-deployment suite, test/api/multi-region.test.ts, uses real ones).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../../src/core/operation.js';
import { PeerError, type RegionPeers } from '../../../src/core/multi-region/ports.js';
import { retryDelayMs, runReplicationJobs } from '../../../src/core/multi-region/replication-jobs.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { rotateKeyOnDemand } from '../../../src/core/operations/rotate-key-on-demand.js';
import type { Logger } from '../../../src/core/ports.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, expectKmsError } from '../operations/management-support.js';

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

let kms: TestKms;
let answer: 'ok' | 'down' | 'gone';
let calls: Array<{ region: string; operation: string; input: JsonObject }>;

beforeEach(async () => {
  kms = await createTestKms();
  answer = 'ok';
  calls = [];
  const peers: RegionPeers = {
    has: async () => true,
    async call(region, operation, input) {
      calls.push({ region, operation, input });
      if (answer === 'down') throw new PeerError('PeerUnreachable', 'connection refused', 0);
      if (answer === 'gone') throw new PeerError('NotFoundException', `Key '${String(input.KeyId)}' does not exist`, 400);
      return { KeyState: 'Enabled' };
    },
  };
  kms.deps.regionPeers = peers;
});
afterEach(() => kms.close());

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

  it('a rotation waits for every replica region: unreachable, nothing changes; replica gone, the region leaves the set', async () => {
    const keyId = await primaryWithReplica();
    const before = (await kms.store.getKey(keyId))!.currentVersionId;
    answer = 'down';
    await expectKmsError(call(kms, rotateKeyOnDemand, { KeyId: keyId }), 'DependencyTimeoutException', 'eu-west-1');
    expect((await kms.store.getKey(keyId))!.currentVersionId).toBe(before);
    expect(await kms.store.listKeyVersions(keyId)).toHaveLength(1);

    answer = 'gone';
    await call(kms, rotateKeyOnDemand, { KeyId: keyId });
    expect((await kms.store.getKey(keyId))!.currentVersionId).not.toBe(before);
    expect((await kms.store.multiRegion.getMultiRegionKey(keyId))!.regions.map((r) => r.region)).toStrictEqual(['us-east-1']);
    expect(await kms.store.multiRegion.listTransferMaterial(keyId)).toHaveLength(2);
  });
});
