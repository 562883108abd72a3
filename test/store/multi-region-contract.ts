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
      expect(await repo.claimReplicationJob(job!, lease)).toBe(true);
      expect(await repo.claimReplicationJob(job!, lease)).toBe(false);
      expect(await repo.listDueReplicationJobs(now, 10)).toStrictEqual([]);
      // Asked for again while it runs: the run's completion must not drop the new request, and
      // until that run ends the job stays its runner's (not due, not made due by a retry).
      await repo.enqueueReplicationJob({ ...id, payload: '{"again":true}' }, now);
      expect(await repo.listDueReplicationJobs(now, 10)).toStrictEqual([]);
      expect(await repo.retryReplicationJobs(now)).toBe(0);
      await repo.completeReplicationJob(job!);
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
    });
  });
}
