/**
 * The two `ca_certificates` indexes that serve rare reads become partial, so a new certificate's
 * row is no longer written into them: `ca_certificates_revoked` (a tier's CRL entries) holds only
 * revoked rows, and `ca_certificates_responders` (the newest OCSP responder certificate) only
 * responder rows, where `ca_certificates_by_kind` held every row. An issuance then writes the
 * table, its primary key and `ca_certificates_by_issue` (`ca list`'s order): two index pages
 * fewer per commit (WAL frames on SQLite), the same answers. The reads that use them say the
 * index's condition in their own WHERE with the same literal (ca-repository.ts), which is what
 * lets SQLite and PostgreSQL choose a partial index.
 */
import { sql, type Kysely, type Migration } from 'kysely';

export function certificatePartialIndexesSchema(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('ca_certificates_revoked').execute();
      await db.schema.dropIndex('ca_certificates_by_kind').execute();
      await db.schema
        .createIndex('ca_certificates_revoked')
        .on('ca_certificates')
        .columns(['ca_name', 'issuer', 'revoked_at', 'serial'])
        .where('revoked_at', 'is not', null)
        .execute();
      await db.schema
        .createIndex('ca_certificates_responders')
        .on('ca_certificates')
        .columns(['ca_name', 'issuer', 'not_after'])
        .where(sql.ref('kind'), '=', RESPONDER_KIND)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('ca_certificates_responders').execute();
      await db.schema.dropIndex('ca_certificates_revoked').execute();
      await db.schema.createIndex('ca_certificates_revoked').on('ca_certificates').columns(['ca_name', 'issuer', 'revoked_at']).execute();
      await db.schema.createIndex('ca_certificates_by_kind').on('ca_certificates').columns(['ca_name', 'kind', 'not_after']).execute();
    },
  };
}

/** The kind `ca_certificates_responders` holds; its reader compares with this same literal. */
export const RESPONDER_KIND = 'ocsp-responder';
