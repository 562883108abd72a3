/**
 * What multi-Region keys need from the metadata store (`store.multiRegion`, also inside
 * transactions) and from the network (a signed call to a peer deployment). The core knows these
 * interfaces only; src/store/sql and src/http implement them.
 */
import { UNBOUND_PEER_REFUSAL } from '../authorization/peer-region.js';
import type { JsonObject } from '../operation.js';
import type {
  MultiRegionKeyRecord,
  RegionPeerRecord,
  ReplicationJob,
  ReplicationJobKind,
  TransferMaterialRecord,
  TransportKeyRecord,
} from './model.js';

/** A job's identity: one per key, region and kind. */
export type ReplicationJobId = Pick<ReplicationJob, 'keyId' | 'region' | 'kind'>;

export interface MultiRegionRepository {
  getMultiRegionKey(keyId: string): Promise<MultiRegionKeyRecord | undefined>;
  /** Throws StoreError `conflict` on a duplicate. */
  insertMultiRegionKey(record: MultiRegionKeyRecord): Promise<void>;
  /** Writes `record` if the stored revision is `record.revision - 1`; false otherwise. */
  updateMultiRegionKey(record: MultiRegionKeyRecord): Promise<boolean>;

  /** The transfer blobs of a key's versions. */
  listTransferMaterial(keyId: string): Promise<TransferMaterialRecord[]>;
  insertTransferMaterial(record: TransferMaterialRecord): Promise<void>;

  getRegionPeer(region: string): Promise<RegionPeerRecord | undefined>;
  /** In region order. */
  listRegionPeers(): Promise<RegionPeerRecord[]>;
  /** Adds the peer, or replaces the one of that region. */
  putRegionPeer(peer: RegionPeerRecord): Promise<void>;
  /** Whether there was one. */
  deleteRegionPeer(region: string): Promise<boolean>;

  /**
   * Asks for a job: inserts it due at `now`, or — when one with the same identity waits — makes it
   * due at `now` with the new payload and a new generation (its attempt count starts again). One
   * a runner holds (its lease not over) stays the runner's: it is due again once that run ends
   * ({@link completeReplicationJob}, {@link deferReplicationJob}), never run beside it.
   */
  enqueueReplicationJob(job: ReplicationJobId & { payload: string }, now: Date): Promise<void>;
  /** The job with that identity, if one waits. */
  getReplicationJob(id: ReplicationJobId): Promise<ReplicationJob | undefined>;
  /** Jobs due at `now`, oldest due first. */
  listDueReplicationJobs(now: Date, limit: number): Promise<ReplicationJob[]>;
  /** Every waiting job (of one region), in due order. */
  listReplicationJobs(options: { region?: string; limit: number }): Promise<ReplicationJob[]>;
  /**
   * Takes a due job for one runner: moves its due time to `leaseUntil` and makes that its lease if
   * it is still as `job` saw it. Answers the job as its runner holds it (`leasedUntil`, the token
   * the calls below take), or undefined when another runner (another worker or node) was first.
   */
  claimReplicationJob(job: ReplicationJob, leaseUntil: Date): Promise<ReplicationJob | undefined>;
  /**
   * Extends the lease `job` holds to `leaseUntil` (a long run's heartbeat). False when the job no
   * longer carries that lease: it ran out and another runner took the job, or the job is gone.
   */
  renewReplicationJobLease(job: ReplicationJob, leaseUntil: Date): Promise<boolean>;
  /**
   * Removes the job unless it was asked for again (a newer generation) meanwhile; that one is due
   * at once. Nothing, when the job no longer carries `job`'s lease (another runner has it now).
   */
  completeReplicationJob(job: ReplicationJob): Promise<void>;
  /**
   * Records a failed attempt and when to try again (unless it was asked for again meanwhile: that
   * one is due at once). Nothing, when the job no longer carries `job`'s lease.
   */
  deferReplicationJob(job: ReplicationJob, next: { attempts: number; nextAttemptAt: Date; lastError: string }): Promise<void>;
  /** Makes every waiting job (of one region) that no runner holds due at `now`; returns how many. */
  retryReplicationJobs(now: Date, region?: string): Promise<number>;

  insertTransportKey(record: TransportKeyRecord): Promise<void>;
  /** Removes and returns the transport key: whoever gets it is the only one (single use). */
  takeTransportKey(transportKeyId: string): Promise<TransportKeyRecord | undefined>;
  /** The transport keys still valid at `now`: all of them, or those `requesterArn` asked for. */
  countTransportKeys(now: Date, requesterArn?: string): Promise<number>;
  deleteExpiredTransportKeys(now: Date): Promise<number>;
  /** When the last of the key's transport keys still valid at `now` expires (none: undefined). */
  transportKeysValidUntil(keyId: string, now: Date): Promise<Date | undefined>;
  /** Removes every transport key made for the key; returns how many. */
  deleteTransportKeysOf(keyId: string): Promise<number>;
}

/** An error a peer answered with (`{"__type","message"}`), or why it could not be reached or understood. */
export class PeerError extends Error {
  constructor(
    /** The peer's AWS exception name, or `PeerUnreachable` / `PeerInvalidResponse` / `PeerNotRegistered`. */
    readonly type: string,
    message: string,
    /** The peer's HTTP status; 0 when there was no answer. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'PeerError';
  }

  /**
   * The peer refused this deployment's peer principal because it is a RegionPeer bound to no
   * region (made before `hsmkms:PeerRegion` existed): an operator binds it there.
   */
  get unboundPeer(): boolean {
    return this.type === 'AccessDeniedException' && this.message.includes(UNBOUND_PEER_REFUSAL);
  }

  /**
   * Whether trying again later may help: no answer, a garbled one, a 5xx, throttling, or
   * credentials the peer does not accept or a peer principal it has not bound yet (an operator
   * can fix those). A 4xx about the request itself will be the same answer next time.
   */
  get retryable(): boolean {
    if (this.status === 0 || this.status >= 500 || this.unboundPeer) return true;
    return ['PeerInvalidResponse', 'PeerNotRegistered', 'ThrottlingException', 'UnrecognizedClientException', 'InvalidSignatureException', 'IncompleteSignatureException'].includes(
      this.type,
    );
  }
}

/** Signed `HsmKms.*` calls to the peer deployments, by region. */
export interface RegionPeers {
  /** Calls `HsmKms.<operation>` in `region`; throws {@link PeerError}. */
  call(region: string, operation: string, input: JsonObject): Promise<JsonObject>;
  /** Whether a peer is registered for the region. */
  has(region: string): Promise<boolean>;
}
