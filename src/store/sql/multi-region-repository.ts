/**
 * {@link MultiRegionRepository} over Kysely, for every SQL database; sql-repository.ts exposes it
 * as `multiRegion` (also inside transactions).
 */
import { sql, type ExpressionBuilder, type Kysely, type Selectable } from 'kysely';
import type {
  MultiRegionKeyRecord,
  RegionMembership,
  RegionPeerRecord,
  ReplicationJob,
  ReplicationJobKind,
  TransferMaterialRecord,
  TransportKeyRecord,
} from '../../core/multi-region/model.js';
import type { MultiRegionRepository, ReplicationJobId } from '../../core/multi-region/ports.js';
import type { StoreRecord } from '../../core/store-error.js';
import type { SqlFlavor } from './dialect.js';
import type { MultiRegionKeysTable, RegionPeersTable, ReplicationJobsTable, TransportKeysTable } from './multi-region-schema.js';
import { compact } from './rows.js';
import type { MetadataDatabase } from './schema.js';
import { insertOnce, pageSize } from './sql-repository.js';

type Db = Kysely<MetadataDatabase>;

export class SqlMultiRegionRepository implements MultiRegionRepository {
  constructor(
    private readonly db: Db,
    private readonly flavor: SqlFlavor,
  ) {}

  private insertOnce(insert: () => Promise<unknown>, record: StoreRecord, subject: string): Promise<void> {
    return insertOnce(this.flavor, insert, record, subject);
  }

  // ───────────── keys' sets of regions ─────────────

  async getMultiRegionKey(keyId: string): Promise<MultiRegionKeyRecord | undefined> {
    const row = await this.db.selectFrom('multi_region_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    return row && rowToMultiRegionKey(row);
  }

  async insertMultiRegionKey(record: MultiRegionKeyRecord): Promise<void> {
    await this.insertOnce(() => this.db.insertInto('multi_region_keys').values(multiRegionKeyToRow(record)).execute(), 'multi-region-key', record.keyId);
  }

  async updateMultiRegionKey(record: MultiRegionKeyRecord): Promise<boolean> {
    const { key_id: _id, ...changes } = multiRegionKeyToRow(record);
    const result = await this.db
      .updateTable('multi_region_keys')
      .set(changes)
      .where('key_id', '=', record.keyId)
      .where('revision', '=', record.revision - 1)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listTransferMaterial(keyId: string): Promise<TransferMaterialRecord[]> {
    const rows = await this.db.selectFrom('transfer_material').selectAll().where('key_id', '=', keyId).orderBy('version_id').execute();
    return rows.map((r) => ({ keyId: r.key_id, versionId: r.version_id, transferWrapped: new Uint8Array(r.transfer_wrapped) }));
  }

  async insertTransferMaterial(record: TransferMaterialRecord): Promise<void> {
    await this.insertOnce(
      () =>
        this.db
          .insertInto('transfer_material')
          .values({ key_id: record.keyId, version_id: record.versionId, transfer_wrapped: record.transferWrapped })
          .execute(),
      'key-version',
      `${record.versionId} of key ${record.keyId}`,
    );
  }

  // ───────────── peers ─────────────

  async getRegionPeer(region: string): Promise<RegionPeerRecord | undefined> {
    const row = await this.db.selectFrom('region_peers').selectAll().where('region', '=', region).executeTakeFirst();
    return row && rowToPeer(row);
  }

  async listRegionPeers(): Promise<RegionPeerRecord[]> {
    return (await this.db.selectFrom('region_peers').selectAll().orderBy('region').execute()).map(rowToPeer);
  }

  async putRegionPeer(peer: RegionPeerRecord): Promise<void> {
    const row = {
      region: peer.region,
      endpoint: peer.endpoint,
      access_key_id: peer.accessKeyId,
      sealed_secret: peer.sealedSecret,
      created_at: peer.createdAt.getTime(),
    };
    await this.db
      .insertInto('region_peers')
      .values(row)
      .onConflict((oc) => oc.column('region').doUpdateSet({ endpoint: row.endpoint, access_key_id: row.access_key_id, sealed_secret: row.sealed_secret, created_at: row.created_at }))
      .execute();
  }

  async deleteRegionPeer(region: string): Promise<boolean> {
    const result = await this.db.deleteFrom('region_peers').where('region', '=', region).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // ───────────── replication jobs ─────────────

  async enqueueReplicationJob(job: ReplicationJobId & { payload: string }, now: Date): Promise<void> {
    const at = now.getTime();
    await this.db
      .insertInto('replication_jobs')
      .values({
        key_id: job.keyId,
        region: job.region,
        kind: job.kind,
        payload: job.payload,
        generation: 1,
        attempts: 0,
        next_attempt_at: at,
        last_error: null,
        created_at: at,
        leased_until: null,
      })
      .onConflict((oc) =>
        oc.columns(['key_id', 'region', 'kind']).doUpdateSet((eb) => ({
          payload: job.payload,
          generation: eb('replication_jobs.generation', '+', 1),
          attempts: 0,
          // A job a runner holds stays its until that run ends (see releaseNewerGeneration).
          next_attempt_at: sql<number>`case when replication_jobs.leased_until > ${at} then replication_jobs.next_attempt_at else ${at} end`,
        })),
      )
      .execute();
  }

  async getReplicationJob(id: ReplicationJobId): Promise<ReplicationJob | undefined> {
    const row = await this.db
      .selectFrom('replication_jobs')
      .selectAll()
      .where('key_id', '=', id.keyId)
      .where('region', '=', id.region)
      .where('kind', '=', id.kind)
      .executeTakeFirst();
    return row && rowToJob(row);
  }

  async listDueReplicationJobs(now: Date, limit: number): Promise<ReplicationJob[]> {
    const rows = await this.db
      .selectFrom('replication_jobs')
      .selectAll()
      .where('next_attempt_at', '<=', now.getTime())
      .orderBy('next_attempt_at')
      .limit(pageSize(limit))
      .execute();
    return rows.map(rowToJob);
  }

  async listReplicationJobs(options: { region?: string; limit: number }): Promise<ReplicationJob[]> {
    let query = this.db.selectFrom('replication_jobs').selectAll();
    if (options.region !== undefined) query = query.where('region', '=', options.region);
    return (await query.orderBy('next_attempt_at').orderBy('key_id').limit(pageSize(options.limit)).execute()).map(rowToJob);
  }

  async claimReplicationJob(job: ReplicationJob, leaseUntil: Date): Promise<ReplicationJob | undefined> {
    // A claim only succeeds on a due job, whose due time is at least the end of any earlier lease
    // (a held job is due when its lease ends), so each lease ends later than the one before:
    // the lease's end is a fencing token no other runner of the job holds.
    const result = await this.db
      .updateTable('replication_jobs')
      .set({ next_attempt_at: leaseUntil.getTime(), leased_until: leaseUntil.getTime() })
      .where('key_id', '=', job.keyId)
      .where('region', '=', job.region)
      .where('kind', '=', job.kind)
      .where('next_attempt_at', '=', job.nextAttemptAt.getTime())
      .where('generation', '=', job.generation)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1 ? { ...job, leasedUntil: leaseUntil } : undefined;
  }

  async renewReplicationJobLease(job: ReplicationJob, leaseUntil: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('replication_jobs')
      .set({ next_attempt_at: leaseUntil.getTime(), leased_until: leaseUntil.getTime() })
      .where(heldBy(job))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async completeReplicationJob(job: ReplicationJob): Promise<void> {
    const result = await this.db.deleteFrom('replication_jobs').where(heldBy(job)).where('generation', '=', job.generation).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) await this.releaseNewerGeneration(job);
  }

  /**
   * The run of `job` is over but the job was asked for again meanwhile (a newer generation, kept
   * waiting while the run held it): due now, as it was asked, and no runner's. Nothing when the run
   * had lost its lease: the job is another runner's.
   */
  private async releaseNewerGeneration(job: ReplicationJob): Promise<void> {
    await this.db
      .updateTable('replication_jobs')
      .set({ next_attempt_at: job.nextAttemptAt.getTime(), leased_until: null })
      .where(heldBy(job))
      .where('generation', '>', job.generation)
      .execute();
  }

  async deferReplicationJob(job: ReplicationJob, next: { attempts: number; nextAttemptAt: Date; lastError: string }): Promise<void> {
    const result = await this.db
      .updateTable('replication_jobs')
      .set({ attempts: next.attempts, next_attempt_at: next.nextAttemptAt.getTime(), last_error: next.lastError, leased_until: null })
      .where(heldBy(job))
      .where('generation', '=', job.generation)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) await this.releaseNewerGeneration(job);
  }

  async retryReplicationJobs(now: Date, region?: string): Promise<number> {
    // Not a job a runner holds: its run ends first (see releaseNewerGeneration).
    let query = this.db
      .updateTable('replication_jobs')
      .set({ next_attempt_at: now.getTime() })
      .where('next_attempt_at', '>', now.getTime())
      .where((eb) => eb.or([eb('leased_until', 'is', null), eb('leased_until', '<=', now.getTime())]));
    if (region !== undefined) query = query.where('region', '=', region);
    return Number((await query.executeTakeFirst()).numUpdatedRows);
  }

  // ───────────── transport keys ─────────────

  async insertTransportKey(record: TransportKeyRecord): Promise<void> {
    await this.insertOnce(
      () =>
        this.db
          .insertInto('transport_keys')
          .values({
            transport_key_id: record.transportKeyId,
            key_id: record.keyId,
            wrapped_private_key: record.wrappedPrivateKey,
            public_key: record.publicKey,
            created_at: record.createdAt.getTime(),
            expires_at: record.expiresAt.getTime(),
            requester_arn: record.requesterArn ?? null,
          })
          .execute(),
      'transport-key',
      record.transportKeyId,
    );
  }

  async takeTransportKey(transportKeyId: string): Promise<TransportKeyRecord | undefined> {
    const row = await this.db.selectFrom('transport_keys').selectAll().where('transport_key_id', '=', transportKeyId).executeTakeFirst();
    if (!row) return undefined;
    const deleted = await this.db.deleteFrom('transport_keys').where('transport_key_id', '=', transportKeyId).executeTakeFirst();
    // Someone else took it between the two statements: it is theirs.
    return Number(deleted.numDeletedRows) === 1 ? rowToTransportKey(row) : undefined;
  }

  async countTransportKeys(now: Date, requesterArn?: string): Promise<number> {
    let query = this.db
      .selectFrom('transport_keys')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('expires_at', '>', now.getTime());
    if (requesterArn !== undefined) query = query.where('requester_arn', '=', requesterArn);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  async transportKeysValidUntil(keyId: string, now: Date): Promise<Date | undefined> {
    const row = await this.db
      .selectFrom('transport_keys')
      .select((eb) => eb.fn.max('expires_at').as('until'))
      .where('key_id', '=', keyId)
      .where('expires_at', '>', now.getTime())
      .executeTakeFirst();
    return row?.until === null || row?.until === undefined ? undefined : new Date(Number(row.until));
  }

  async deleteTransportKeysOf(keyId: string): Promise<number> {
    const result = await this.db.deleteFrom('transport_keys').where('key_id', '=', keyId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpiredTransportKeys(now: Date): Promise<number> {
    const result = await this.db.deleteFrom('transport_keys').where('expires_at', '<=', now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/** The job while it carries the lease `job` holds (none: while no runner holds it). */
function heldBy(job: ReplicationJob) {
  return (eb: ExpressionBuilder<MetadataDatabase, 'replication_jobs'>) =>
    eb.and([
      eb('key_id', '=', job.keyId),
      eb('region', '=', job.region),
      eb('kind', '=', job.kind),
      job.leasedUntil === undefined ? eb('leased_until', 'is', null) : eb('leased_until', '=', job.leasedUntil.getTime()),
    ]);
}

function multiRegionKeyToRow(record: MultiRegionKeyRecord): Selectable<MultiRegionKeysTable> & { revision: number; updating: number } {
  return {
    key_id: record.keyId,
    primary_region: record.primaryRegion,
    regions: JSON.stringify(record.regions.map((r) => ({ region: r.region, state: r.state }))),
    updating: record.updating ? 1 : 0,
    revision: record.revision,
  };
}

function rowToMultiRegionKey(row: Selectable<MultiRegionKeysTable>): MultiRegionKeyRecord {
  const regions = (JSON.parse(row.regions) as RegionMembership[]).map((r) => ({ region: r.region, state: r.state }));
  return { keyId: row.key_id, primaryRegion: row.primary_region, regions, updating: Number(row.updating) === 1, revision: Number(row.revision) };
}

function rowToPeer(row: Selectable<RegionPeersTable>): RegionPeerRecord {
  return {
    region: row.region,
    endpoint: row.endpoint,
    accessKeyId: row.access_key_id,
    sealedSecret: new Uint8Array(row.sealed_secret),
    createdAt: new Date(Number(row.created_at)),
  };
}

function rowToJob(row: Selectable<ReplicationJobsTable>): ReplicationJob {
  return compact({
    keyId: row.key_id,
    region: row.region,
    kind: row.kind as ReplicationJobKind,
    payload: row.payload,
    generation: Number(row.generation),
    attempts: Number(row.attempts),
    nextAttemptAt: new Date(Number(row.next_attempt_at)),
    lastError: row.last_error ?? undefined,
    createdAt: new Date(Number(row.created_at)),
    leasedUntil: row.leased_until === null ? undefined : new Date(Number(row.leased_until)),
  });
}

function rowToTransportKey(row: Selectable<TransportKeysTable>): TransportKeyRecord {
  return compact({
    transportKeyId: row.transport_key_id,
    keyId: row.key_id,
    wrappedPrivateKey: new Uint8Array(row.wrapped_private_key),
    publicKey: new Uint8Array(row.public_key),
    createdAt: new Date(Number(row.created_at)),
    expiresAt: new Date(Number(row.expires_at)),
    requesterArn: row.requester_arn ?? undefined,
  });
}
