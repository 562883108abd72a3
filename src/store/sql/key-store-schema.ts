/**
 * Tables of custom key stores (migration 0005), kept apart from schema.ts so that the store's
 * other tables and these evolve without touching each other. Column conventions as schema.ts.
 */
import type { Binary, Int, Millis } from './schema.js';

export interface CustomKeyStoresTable {
  custom_key_store_id: string;
  name: string;
  store_type: string;
  creation_date: Millis;
  connection_state: string;
  connection_error_code: string | null;
  cloud_hsm_cluster_id: string | null;
  trust_anchor_certificate: string | null;
  sealed_password: Binary | null;
  xks_uri_endpoint: string | null;
  xks_uri_path: string | null;
  xks_connectivity: string | null;
  xks_access_key_id: string | null;
  xks_sealed_secret: Binary | null;
  revision: Int;
}

export interface CustomKeyStoreKeysTable {
  key_id: string;
  custom_key_store_id: string;
  xks_key_id: string | null;
}

export interface XksCredentialsTable {
  access_key_id: string;
  uri_prefix: string;
  sealed_secret: Binary;
  created_at: Millis;
}

/** The tables above, merged into the store's `MetadataDatabase`. */
export interface KeyStoreDatabase {
  custom_key_stores: CustomKeyStoresTable;
  custom_key_store_keys: CustomKeyStoreKeysTable;
  xks_credentials: XksCredentialsTable;
}
