/**
 * One row per imported key material of an EXTERNAL key (core/model.ts `ImportedKeyMaterial`):
 * its description, expiration, whether it waits for RotateKeyOnDemand, and when it was rotated
 * in. It outlives the material's `key_versions` row, so a deleted or expired material stays
 * known (ImportState PENDING_IMPORT). Keys imported into before this migration get a row for
 * the material they have (their current_version_id), with the key's expiration.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function importedKeyMaterialsSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('imported_key_materials')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('version_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('description', 'varchar(256)')
        .addColumn('expiration_model', 'varchar(32)')
        .addColumn('valid_to', big)
        .addColumn('pending_rotation', 'integer', (c) => c.notNull())
        .addColumn('imported_at', big, (c) => c.notNull())
        .addColumn('rotated_at', big)
        .addColumn('rotation_type', 'varchar(16)')
        .addPrimaryKeyConstraint('imported_key_materials_pk', ['key_id', 'version_id'])
        .execute();
      await sql`INSERT INTO imported_key_materials (key_id, version_id, description, expiration_model, valid_to, pending_rotation, imported_at, rotated_at, rotation_type)
        SELECT k.key_id, k.current_version_id, NULL,
               CASE WHEN v.version_id IS NULL THEN NULL ELSE k.expiration_model END,
               CASE WHEN v.version_id IS NULL THEN NULL ELSE k.valid_to END,
               0, COALESCE(v.created_at, k.creation_date), NULL, NULL
        FROM keys k LEFT JOIN key_versions v ON v.key_id = k.key_id AND v.version_id = k.current_version_id
        WHERE k.origin = 'EXTERNAL' AND k.current_version_id IS NOT NULL`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('imported_key_materials').execute();
    },
  };
}
