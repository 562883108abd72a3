/**
 * Key material that is a token object of its own (EdDSA keys) and must be destroyed once no key
 * references it (core/material-destruction.ts): written in the transaction that deletes the key,
 * or before the transaction that creates one, and removed once the object is gone. A destruction
 * that fails stays, and the scheduler tries it again at `not_before`.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function materialDestructionsSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // No foreign key: the row outlives its key by design.
      await db.schema
        .createTable('material_destructions')
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('version_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('key_spec', 'varchar(32)', (c) => c.notNull())
        .addColumn('wrapped_material', flavor.binaryType, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('not_before', big, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('material_destructions_pk', ['key_id', 'version_id'])
        .execute();
      await db.schema.createIndex('material_destructions_due').on('material_destructions').columns(['not_before']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('material_destructions').execute();
    },
  };
}
