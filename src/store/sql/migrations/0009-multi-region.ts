/**
 * Multi-Region keys (src/core/multi-region): each key's place in its set of regions, the
 * transfer blobs of its versions, the peer deployments, the work towards them that waits for a
 * retry, and the single-use transport keys of incoming transfers.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function multiRegionSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  const bin = flavor.binaryType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('multi_region_keys')
        .addColumn('key_id', 'varchar(64)', (c) => c.primaryKey().references('keys.key_id').onDelete('cascade'))
        .addColumn('primary_region', 'varchar(32)', (c) => c.notNull())
        // JSON array of {region, state}: a key is in a handful of regions, read and written whole.
        .addColumn('regions', 'text', (c) => c.notNull())
        .addColumn('updating', big, (c) => c.notNull())
        .addColumn('revision', big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('transfer_material')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('version_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('transfer_wrapped', bin, (c) => c.notNull())
        .addPrimaryKeyConstraint('transfer_material_pk', ['key_id', 'version_id'])
        .execute();

      await db.schema
        .createTable('region_peers')
        .addColumn('region', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('endpoint', 'varchar(2048)', (c) => c.notNull())
        .addColumn('access_key_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('sealed_secret', bin, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();

      // No foreign key to keys: a deleted replica's report to the other regions outlives it.
      await db.schema
        .createTable('replication_jobs')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('region', 'varchar(32)', (c) => c.notNull())
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('generation', big, (c) => c.notNull())
        .addColumn('attempts', big, (c) => c.notNull())
        .addColumn('next_attempt_at', big, (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('replication_jobs_pk', ['key_id', 'region', 'kind'])
        .execute();
      await db.schema.createIndex('replication_jobs_by_due').on('replication_jobs').column('next_attempt_at').execute();

      // No foreign key either: the key does not exist here until its material has arrived.
      await db.schema
        .createTable('transport_keys')
        .addColumn('transport_key_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('wrapped_private_key', bin, (c) => c.notNull())
        .addColumn('public_key', bin, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('transport_keys_by_expiry').on('transport_keys').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['transport_keys', 'replication_jobs', 'region_peers', 'transfer_material', 'multi_region_keys'])
        await db.schema.dropTable(table).execute();
    },
  };
}
