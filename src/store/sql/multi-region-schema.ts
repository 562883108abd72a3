/**
 * Tables of multi-Region keys (migration 0009), kept apart from schema.ts like the key store
 * tables. Column conventions as schema.ts.
 */
import type { Binary, Int, Millis } from './schema.js';

export interface MultiRegionKeysTable {
  key_id: string;
  primary_region: string;
  regions: string;
  updating: Int;
  revision: Int;
}

export interface TransferMaterialTable {
  key_id: string;
  version_id: string;
  transfer_wrapped: Binary;
}

export interface RegionPeersTable {
  region: string;
  endpoint: string;
  access_key_id: string;
  sealed_secret: Binary;
  created_at: Millis;
}

export interface ReplicationJobsTable {
  key_id: string;
  region: string;
  kind: string;
  payload: string;
  generation: Int;
  attempts: Int;
  next_attempt_at: Millis;
  last_error: string | null;
  created_at: Millis;
  /** The end of the lease a runner holds on the job; null when none has it (migration 0012). */
  leased_until: Millis | null;
}

export interface TransportKeysTable {
  transport_key_id: string;
  key_id: string;
  wrapped_private_key: Binary;
  public_key: Binary;
  created_at: Millis;
  expires_at: Millis;
  /** The peer principal that asked for it; null for those made before migration 0023. */
  requester_arn: string | null;
}

/** The tables above, merged into the store's `MetadataDatabase`. */
export interface MultiRegionDatabase {
  multi_region_keys: MultiRegionKeysTable;
  transfer_material: TransferMaterialTable;
  region_peers: RegionPeersTable;
  replication_jobs: ReplicationJobsTable;
  transport_keys: TransportKeysTable;
}
