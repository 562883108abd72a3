/**
 * Custom key stores: the stores themselves, which store holds which key, and the SigV4
 * credentials of hsmkms's own XKS proxy endpoint. Uniqueness AWS requires (store names, one
 * store per cluster, one KMS key per external key) is enforced by the database too, so that
 * two nodes racing cannot both win.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function customKeyStoresSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  const bin = flavor.binaryType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('custom_key_stores')
        .addColumn('custom_key_store_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(256)', (c) => c.notNull())
        .addColumn('store_type', 'varchar(32)', (c) => c.notNull())
        .addColumn('creation_date', big, (c) => c.notNull())
        .addColumn('connection_state', 'varchar(32)', (c) => c.notNull())
        .addColumn('connection_error_code', 'varchar(64)')
        .addColumn('cloud_hsm_cluster_id', 'varchar(64)')
        .addColumn('trust_anchor_certificate', 'text')
        .addColumn('sealed_password', bin)
        .addColumn('xks_uri_endpoint', 'varchar(256)')
        .addColumn('xks_uri_path', 'varchar(256)')
        .addColumn('xks_connectivity', 'varchar(32)')
        .addColumn('xks_access_key_id', 'varchar(64)')
        .addColumn('xks_sealed_secret', bin)
        .addColumn('revision', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('custom_key_stores_by_name').on('custom_key_stores').column('name').unique().execute();
      // NULLs never collide, so stores of the other type need no cluster id.
      await db.schema.createIndex('custom_key_stores_by_cluster').on('custom_key_stores').column('cloud_hsm_cluster_id').unique().execute();
      await db.schema.createIndex('custom_key_stores_by_creation').on('custom_key_stores').columns(['creation_date', 'custom_key_store_id']).execute();

      await db.schema
        .createTable('custom_key_store_keys')
        .addColumn('key_id', 'varchar(64)', (c) => c.primaryKey().references('keys.key_id').onDelete('cascade'))
        .addColumn('custom_key_store_id', 'varchar(64)', (c) => c.notNull().references('custom_key_stores.custom_key_store_id'))
        .addColumn('xks_key_id', 'varchar(128)')
        .execute();
      await db.schema
        .createIndex('custom_key_store_keys_by_xks_key')
        .on('custom_key_store_keys')
        .columns(['custom_key_store_id', 'xks_key_id'])
        .unique()
        .execute();

      await db.schema
        .createTable('xks_credentials')
        .addColumn('access_key_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('uri_prefix', 'varchar(256)', (c) => c.notNull())
        .addColumn('sealed_secret', bin, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('xks_credentials_by_prefix').on('xks_credentials').column('uri_prefix').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['xks_credentials', 'custom_key_store_keys', 'custom_key_stores']) await db.schema.dropTable(table).execute();
    },
  };
}
