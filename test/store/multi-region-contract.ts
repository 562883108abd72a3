/**
 * The multi-Region part of the MetadataStore contract (`store.multiRegion`), run by
 * describeMetadataStoreContract for every store implementation.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { MultiRegionKeyRecord } from '../../src/core/multi-region/model.js';
import type { MetadataStore } from '../../src/core/ports.js';
import { StoreError } from '../../src/core/store-error.js';
import { key } from './fixtures.js';

function mrkId(): string {
  return `mrk-${randomBytes(16).toString('hex')}`;
}

export function describeMultiRegionContract(store: () => MetadataStore): void {
  describe('multi-Region keys', () => {
    it('round-trips a key\'s regions, updates it by revision only, and drops it with the key', async () => {
      const keyId = mrkId();
      await store().insertKey(key({ keyId }));
      const record: MultiRegionKeyRecord = {
        keyId,
        primaryRegion: 'us-east-1',
        regions: [
          { region: 'us-east-1', state: 'Active' },
          { region: 'eu-west-1', state: 'Creating' },
        ],
        updating: false,
        revision: 1,
      };
      const repo = store().multiRegion;
      await repo.insertMultiRegionKey(record);
      await expect(repo.insertMultiRegionKey(record)).rejects.toBeInstanceOf(StoreError);
      expect(await repo.getMultiRegionKey(keyId)).toStrictEqual(record);
      const next = { ...record, updating: true, primaryRegion: 'eu-west-1', revision: 2 };
      expect(await repo.updateMultiRegionKey(next)).toBe(true);
      expect(await repo.updateMultiRegionKey(next)).toBe(false);
      expect(await repo.getMultiRegionKey(keyId)).toStrictEqual(next);

      const blob = new Uint8Array(randomBytes(40));
      await repo.insertTransferMaterial({ keyId, versionId: 'b'.repeat(64), transferWrapped: blob });
      expect(await repo.listTransferMaterial(keyId)).toStrictEqual([{ keyId, versionId: 'b'.repeat(64), transferWrapped: blob }]);
      await store().deleteKey(keyId);
      expect(await repo.getMultiRegionKey(keyId)).toBeUndefined();
      expect(await repo.listTransferMaterial(keyId)).toStrictEqual([]);
    });

    it('keeps one peer per region, replaced by a second put', async () => {
      const repo = store().multiRegion;
      const peer = { region: 'eu-west-1', endpoint: 'https://kms.eu.example', accessKeyId: 'AKIAPEER', sealedSecret: new Uint8Array([1, 2, 3]), createdAt: new Date(1_790_000_000_123) };
      await repo.putRegionPeer(peer);
      await repo.putRegionPeer({ ...peer, region: 'ap-south-1' });
      await repo.putRegionPeer({ ...peer, endpoint: 'https://kms2.eu.example' });
      expect((await repo.listRegionPeers()).map((p) => [p.region, p.endpoint])).toStrictEqual([
        ['ap-south-1', 'https://kms.eu.example'],
        ['eu-west-1', 'https://kms2.eu.example'],
      ]);
      expect(await repo.getRegionPeer('eu-west-1')).toStrictEqual({ ...peer, endpoint: 'https://kms2.eu.example' });
      expect(await repo.deleteRegionPeer('eu-west-1')).toBe(true);
      expect(await repo.deleteRegionPeer('eu-west-1')).toBe(false);
    });

    it('runs a job once: claimed by one runner, kept when asked for again while it ran', async () => {
      const repo = store().multiRegion;
      const now = new Date(1_790_000_000_000);
      const id = { keyId: mrkId(), region: 'eu-west-1', kind: 'sync' as const };
      await repo.enqueueReplicationJob({ ...id, payload: '{}' }, now);
      const [job] = await repo.listDueReplicationJobs(now, 10);
      expect(job).toMatchObject({ ...id, generation: 1, attempts: 0, nextAttemptAt: now });
      const lease = new Date(now.getTime() + 60_000);
      const held = await repo.claimReplicationJob(job!, lease);
      expect(held).toStrictEqual({ ...job, nextAttemptAt: now, leasedUntil: lease });
      expect(await repo.claimReplicationJob(job!, lease)).toBeUndefined();
      expect(await repo.listDueReplicationJobs(now, 10)).toStrictEqual([]);
      // Asked for again while it runs: the run's completion must not drop the new request, and
      // until that run ends the job stays its runner's (not due, not made due by a retry).
      await repo.enqueueReplicationJob({ ...id, payload: '{"again":true}' }, now);
      expect(await repo.listDueReplicationJobs(now, 10)).toStrictEqual([]);
      expect(await repo.retryReplicationJobs(now)).toBe(0);
      await repo.completeReplicationJob(held!);
      const [again] = await repo.listDueReplicationJobs(now, 10);
      expect(again).toMatchObject({ generation: 2, payload: '{"again":true}' });
      await repo.deferReplicationJob(again!, { attempts: 1, nextAttemptAt: lease, lastError: 'peer down' });
      expect(await repo.listDueReplicationJobs(now, 10)).toStrictEqual([]);
      expect(await repo.listReplicationJobs({ region: 'eu-west-1', limit: 10 })).toMatchObject([{ attempts: 1, lastError: 'peer down' }]);
      expect(await repo.getReplicationJob(id)).toMatchObject({ ...id, generation: 2, attempts: 1, nextAttemptAt: lease });
      expect(await repo.getReplicationJob({ ...id, kind: 'replicate' })).toBeUndefined();
      expect(await repo.retryReplicationJobs(now, 'eu-west-1')).toBe(1);
      const [due] = await repo.listDueReplicationJobs(now, 10);
      await repo.completeReplicationJob(due!);
      expect(await repo.listReplicationJobs({ limit: 10 })).toStrictEqual([]);
      expect(await repo.getReplicationJob(id)).toBeUndefined();
    });

    it('fences a runner whose lease ran out: another runner took the job, and the first one\'s outcome is not written', async () => {
      const repo = store().multiRegion;
      const now = new Date(1_790_000_000_000);
      const id = { keyId: mrkId(), region: 'eu-west-1', kind: 'rotate' as const };
      await repo.enqueueReplicationJob({ ...id, payload: '{}' }, now);
      const [job] = await repo.listDueReplicationJobs(now, 10);
      const first = (await repo.claimReplicationJob(job!, new Date(now.getTime() + 300_000)))!;
      // A heartbeat extends the lease while the run goes on; the job stays the runner's.
      expect(await repo.renewReplicationJobLease(first, new Date(now.getTime() + 400_000))).toBe(true);
      expect(await repo.listDueReplicationJobs(new Date(now.getTime() + 350_000), 10)).toStrictEqual([]);
      // A renewal with a lease the job no longer carries (the one before) fails.
      expect(await repo.renewReplicationJobLease(first, new Date(now.getTime() + 500_000))).toBe(false);
      const renewed = { ...first, leasedUntil: new Date(now.getTime() + 400_000) };
      // That runner stalls past its lease: a second runner takes the job.
      const later = new Date(now.getTime() + 401_000);
      const [due] = await repo.listDueReplicationJobs(later, 10);
      const second = (await repo.claimReplicationJob(due!, new Date(later.getTime() + 300_000)))!;
      expect(second.leasedUntil!.getTime()).toBeGreaterThan(renewed.leasedUntil.getTime());
      // The first runner wakes: it cannot renew, and neither its completion nor its failure is written.
      expect(await repo.renewReplicationJobLease(renewed, new Date(later.getTime() + 300_000))).toBe(false);
      await repo.completeReplicationJob(renewed);
      await repo.deferReplicationJob(renewed, { attempts: 1, nextAttemptAt: later, lastError: 'stale' });
      expect(await repo.getReplicationJob(id)).toStrictEqual({ ...second, nextAttemptAt: second.leasedUntil });
      expect(await repo.listDueReplicationJobs(later, 10)).toStrictEqual([]);
      // Asked for again meanwhile: the stale runner's end does not make it due either; the holder's does.
      await repo.enqueueReplicationJob({ ...id, payload: '{"again":true}' }, later);
      await repo.completeReplicationJob(renewed);
      expect(await repo.listDueReplicationJobs(later, 10)).toStrictEqual([]);
      await repo.completeReplicationJob(second);
      expect(await repo.listDueReplicationJobs(later, 10)).toMatchObject([{ ...id, generation: 2, payload: '{"again":true}' }]);
    });

    it('hands a transport key to exactly one taker, and drops expired ones', async () => {
      const repo = store().multiRegion;
      const now = new Date(1_790_000_000_000);
      const record = {
        transportKeyId: 'tk-1',
        keyId: mrkId(),
        wrappedPrivateKey: new Uint8Array(randomBytes(64)),
        publicKey: new Uint8Array(randomBytes(32)),
        createdAt: now,
        expiresAt: new Date(now.getTime() + 600_000),
      };
      await repo.insertTransportKey(record);
      await repo.insertTransportKey({ ...record, transportKeyId: 'tk-2', expiresAt: now });
      expect(await repo.countTransportKeys(now)).toBe(1);
      const taken = await Promise.all([repo.takeTransportKey('tk-1'), repo.takeTransportKey('tk-1')]);
      expect(taken.filter(Boolean)).toStrictEqual([record]);
      expect(await repo.deleteExpiredTransportKeys(now)).toBe(1);
      expect(await repo.takeTransportKey('tk-2')).toBeUndefined();
      // Each peer principal's are counted apart (its share, PrepareReplica), and kept with it.
      const peer = 'arn:aws:iam::111122223333:user/replicator-eu-west-1';
      await repo.insertTransportKey({ ...record, transportKeyId: 'tk-3', requesterArn: peer });
      await repo.insertTransportKey({ ...record, transportKeyId: 'tk-4', requesterArn: `${peer}-2` });
      expect(await repo.countTransportKeys(now)).toBe(2);
      expect(await repo.countTransportKeys(now, peer)).toBe(1);
      expect(await repo.countTransportKeys(now, 'arn:aws:iam::111122223333:user/nobody')).toBe(0);
      expect(await repo.takeTransportKey('tk-3')).toStrictEqual({ ...record, transportKeyId: 'tk-3', requesterArn: peer });
      expect(await repo.deleteTransportKeysOf(record.keyId)).toBe(1);
    });
  });
}
