/**
 * The first schema: every record in src/core/model.ts. Written with Kysely's schema builder
 * (not raw SQL) so the same migration runs on SQLite and PostgreSQL; the only dialect input
 * is the {@link SqlFlavor}'s column types.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function initialSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  const bin = flavor.binaryType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('keys')
        .addColumn('key_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('arn', 'varchar(2048)', (c) => c.notNull())
        .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('key_spec', 'varchar(32)', (c) => c.notNull())
        .addColumn('key_usage', 'varchar(32)', (c) => c.notNull())
        .addColumn('origin', 'varchar(32)', (c) => c.notNull())
        .addColumn('key_state', 'varchar(32)', (c) => c.notNull())
        .addColumn('creation_date', big, (c) => c.notNull())
        .addColumn('deletion_date', big)
        .addColumn('pending_deletion_window_in_days', 'integer')
        .addColumn('expiration_model', 'varchar(32)')
        .addColumn('valid_to', big)
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('rotation_enabled', 'integer', (c) => c.notNull())
        .addColumn('rotation_period_in_days', 'integer')
        .addColumn('next_rotation_date', big)
        .addColumn('current_version_id', 'varchar(64)')
        .addColumn('revision', big, (c) => c.notNull())
        .execute();
      // ListKeys pages in (creation_date, key_id) order.
      await db.schema.createIndex('keys_by_creation').on('keys').columns(['creation_date', 'key_id']).execute();
      // The scheduler's three "due" conditions each use their own index.
      await db.schema.createIndex('keys_by_deletion_date').on('keys').column('deletion_date').execute();
      await db.schema.createIndex('keys_by_next_rotation_date').on('keys').column('next_rotation_date').execute();
      await db.schema.createIndex('keys_by_valid_to').on('keys').column('valid_to').execute();

      await db.schema
        .createTable('key_versions')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('version_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('wrapped_material', bin, (c) => c.notNull())
        .addColumn('public_key', bin)
        .addColumn('rotation_type', 'varchar(16)')
        .addPrimaryKeyConstraint('key_versions_pk', ['key_id', 'version_id'])
        .execute();
      await db.schema.createIndex('key_versions_by_age').on('key_versions').columns(['key_id', 'created_at']).execute();

      await db.schema
        .createTable('aliases')
        .addColumn('alias_name', 'varchar(256)', (c) => c.primaryKey())
        .addColumn('alias_arn', 'varchar(2048)', (c) => c.notNull())
        .addColumn('target_key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('creation_date', big, (c) => c.notNull())
        .addColumn('last_updated_date', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('aliases_by_key').on('aliases').columns(['target_key_id', 'alias_name']).execute();

      await db.schema
        .createTable('key_tags')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('tag_key', 'varchar(128)', (c) => c.notNull())
        .addColumn('tag_value', 'varchar(256)', (c) => c.notNull())
        .addPrimaryKeyConstraint('key_tags_pk', ['key_id', 'tag_key'])
        .execute();

      await db.schema
        .createTable('principals')
        .addColumn('arn', 'varchar(2048)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(128)', (c) => c.notNull())
        .addColumn('account_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('principal_roles')
        .addColumn('principal_arn', 'varchar(2048)', (c) => c.notNull().references('principals.arn').onDelete('cascade'))
        .addColumn('role', 'varchar(64)', (c) => c.notNull())
        .addPrimaryKeyConstraint('principal_roles_pk', ['principal_arn', 'role'])
        .execute();

      await db.schema
        .createTable('access_keys')
        .addColumn('access_key_id', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('principal_arn', 'varchar(2048)', (c) => c.notNull().references('principals.arn').onDelete('cascade'))
        .addColumn('sealed_secret', bin, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('access_keys_by_principal').on('access_keys').column('principal_arn').execute();

      await db.schema
        .createTable('import_tokens')
        .addColumn('token_id', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('wrapping_key_spec', 'varchar(32)', (c) => c.notNull())
        .addColumn('wrapping_algorithm', 'varchar(32)', (c) => c.notNull())
        .addColumn('wrapped_private_key', bin, (c) => c.notNull())
        .addColumn('public_key', bin, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('import_tokens_by_key').on('import_tokens').column('key_id').execute();
      await db.schema.createIndex('import_tokens_by_expiry').on('import_tokens').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['import_tokens', 'access_keys', 'principal_roles', 'principals', 'key_tags', 'aliases', 'key_versions', 'keys']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
