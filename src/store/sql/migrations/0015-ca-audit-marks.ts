/**
 * How far each audit chain's journaled certificates are known to be in `ca_certificates`
 * (src/ca/certificate-journal.ts): an issuance over the API commits its row without a sync of
 * its own and is made durable by its audit record; after a crash the rows are restored from the
 * records after each chain's mark.
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function caAuditMarksSchema(flavor: SqlFlavor): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('ca_audit_marks')
        .addColumn('node_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('sequence', flavor.bigintType, (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('ca_audit_marks').execute();
    },
  };
}
