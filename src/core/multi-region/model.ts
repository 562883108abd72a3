/**
 * Multi-Region keys as this deployment keeps them. A region is another hsmkms deployment (its
 * own HSM, store and `--region`), registered as a peer; a multi-Region key (`mrk-…`) exists once
 * per region, each with the same key id and key material, and each deployment records which
 * regions hold the key and which of them holds the primary.
 */
import type { KmsSettings } from '../operation.js';

/** `mrk-` and 32 hexadecimal digits, as AWS's multi-Region key ids. */
export const MULTI_REGION_KEY_ID = /^mrk-[0-9a-f]{32}$/;

/** Whether a key id is a multi-Region key's (cheap: the prefix decides). */
export function isMultiRegionKeyId(keyId: string): boolean {
  return keyId.startsWith('mrk-');
}

/** AWS's RegionType: `us-east-1`, `ap-southeast-2`, `us-gov-west-1`. */
export const REGION_RULE = { min: 1, max: 32, pattern: /^([a-z]+-){2,3}\d+$/ };

/**
 * A region of a key's set, as the deployment that records it sees it: `Creating` from ReplicateKey
 * until the replica exists there (AWS's replica in KeyState `Creating`; the transfer runs as a
 * `replicate` replication job), then `Active`.
 */
export interface RegionMembership {
  region: string;
  state: 'Creating' | 'Active';
}

/** One multi-Region key's place in its set; the key record itself is the usual KeyRecord. */
export interface MultiRegionKeyRecord {
  keyId: string;
  primaryRegion: string;
  /** Every region of the set, the primary's included, in the order they joined. */
  regions: RegionMembership[];
  /**
   * A change in flight (AWS's KeyState `Updating`), set on the primary: an UpdatePrimaryRegion until
   * the new primary's deployment has taken over (a `promote` job), or a rotation until every replica
   * region has the new version (a `rotate` job).
   */
  updating: boolean;
  revision: number;
}

/** The transfer blob of one key material version (see transport.ts). */
export interface TransferMaterialRecord {
  keyId: string;
  versionId: string;
  transferWrapped: Uint8Array;
}

/** Another deployment this one talks to, with the credentials of a principal there (secret sealed by the HSM). */
export interface RegionPeerRecord {
  region: string;
  /** `https://…`, or `http://` to a loopback address. */
  endpoint: string;
  accessKeyId: string;
  sealedSecret: Uint8Array;
  createdAt: Date;
}

/**
 * Work towards a peer, kept until it is done (the scheduler retries it; replication-jobs.ts). The
 * kind is a column, so kinds are added without a migration.
 * - `sync`: tell the replica in `region` what the keys share (regions, primary, current version,
 *   rotation settings).
 * - `replicate`: create the replica in `region` (ReplicateKey; the payload holds the replica's
 *   policy, description and tags).
 * - `promote`: make the replica in `region` the primary (UpdatePrimaryRegion).
 * - `rotate`: a rotation of the primary (`region` is its own): the new version reaches every replica
 *   region, then becomes current (the payload names it); the key is `Updating` meanwhile.
 * - `replica-deletion`: for a primary in PendingReplicaDeletion (`region` is its own): ask its
 *   replicas' regions whether their keys still exist; once none does, its waiting period starts.
 * - `abandon`: a `replicate` job was given up: remove the placeholder (`Creating`, no material) the
 *   region may have recorded for the replica (HsmKms.AbandonReplica; the payload names the primary's region).
 */
export type ReplicationJobKind = 'sync' | 'replicate' | 'promote' | 'rotate' | 'replica-deletion' | 'abandon';

export interface ReplicationJob {
  keyId: string;
  region: string;
  kind: ReplicationJobKind;
  /** JSON object: what the job needs beyond the records (a replica's policy, tags, description). */
  payload: string;
  /** Bumped by every enqueue, so a job asked for again while it ran is not lost when it completes. */
  generation: number;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string | undefined;
  createdAt: Date;
  /**
   * The end of the lease of the runner that holds the job (absent: none does). It is also the
   * runner's fencing token: each claim or renewal sets a later one, and a run's outcome is written
   * only while the job still carries the lease that run holds (a runner that lost it writes nothing).
   */
  leasedUntil?: Date | undefined;
}

/** A transport key pair made for an incoming transfer: single-use, short-lived. */
export interface TransportKeyRecord {
  transportKeyId: string;
  keyId: string;
  /** The RSA private key, wrapped under this token's domain key. */
  wrappedPrivateKey: Uint8Array;
  publicKey: Uint8Array;
  createdAt: Date;
  expiresAt: Date;
  /** The peer principal that asked for it (PrepareReplica); absent for those made before it was recorded. */
  requesterArn?: string | undefined;
}

/** Whether this deployment holds the primary key of the set. */
export function isPrimaryHere(record: MultiRegionKeyRecord, settings: KmsSettings): boolean {
  return record.primaryRegion === settings.region;
}

/** The other regions of the set, from this deployment's point of view (replicas still `Creating` included). */
export function otherRegions(record: MultiRegionKeyRecord, settings: KmsSettings): RegionMembership[] {
  return record.regions.filter((r) => r.region !== settings.region);
}

/** The other regions whose key exists (not `Creating`): those that share the material and are told of changes. */
export function activeOtherRegions(record: MultiRegionKeyRecord, settings: KmsSettings): RegionMembership[] {
  return otherRegions(record, settings).filter((r) => r.state === 'Active');
}
