/**
 * The private CA's tables (src/ca/): CAs, every certificate they signed, and per-tier CRL
 * bookkeeping. Separate from the KMS tables: the CA is an application over the KMS API and
 * refers to its keys by ARN only (they may live in another KMS altogether).
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function certificateAuthoritySchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  const bin = flavor.binaryType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('ca_authorities')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('key_spec', 'varchar(32)', (c) => c.notNull())
        .addColumn('base_url', 'varchar(1024)', (c) => c.notNull())
        .addColumn('root_key_id', 'varchar(2048)', (c) => c.notNull())
        .addColumn('intermediate_key_id', 'varchar(2048)', (c) => c.notNull())
        .addColumn('ocsp_key_id', 'varchar(2048)', (c) => c.notNull())
        .addColumn('root_certificate', bin, (c) => c.notNull())
        .addColumn('intermediate_certificate', bin, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('ca_certificates')
        .addColumn('ca_name', 'varchar(64)', (c) => c.notNull().references('ca_authorities.name').onDelete('cascade'))
        .addColumn('serial', 'varchar(64)', (c) => c.notNull())
        .addColumn('issuer', 'varchar(16)', (c) => c.notNull())
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('not_before', big, (c) => c.notNull())
        .addColumn('not_after', big, (c) => c.notNull())
        .addColumn('issued_at', big, (c) => c.notNull())
        .addColumn('certificate', bin, (c) => c.notNull())
        .addColumn('revoked_at', big)
        .addColumn('revocation_reason', 'varchar(32)')
        .addPrimaryKeyConstraint('ca_certificates_pk', ['ca_name', 'serial'])
        .execute();
      // `ca list` pages in issue order; CRLs read a tier's revoked entries; OCSP finds the newest responder.
      await db.schema.createIndex('ca_certificates_by_issue').on('ca_certificates').columns(['ca_name', 'issued_at', 'serial']).execute();
      await db.schema.createIndex('ca_certificates_revoked').on('ca_certificates').columns(['ca_name', 'issuer', 'revoked_at']).execute();
      await db.schema.createIndex('ca_certificates_by_kind').on('ca_certificates').columns(['ca_name', 'kind', 'not_after']).execute();

      await db.schema
        .createTable('ca_crls')
        .addColumn('ca_name', 'varchar(64)', (c) => c.notNull().references('ca_authorities.name').onDelete('cascade'))
        .addColumn('issuer', 'varchar(16)', (c) => c.notNull())
        .addColumn('last_crl_number', big, (c) => c.notNull())
        .addColumn('revocation_epoch', big, (c) => c.notNull())
        .addColumn('crl_number', big)
        .addColumn('crl_epoch', big)
        .addColumn('this_update', big)
        .addColumn('next_update', big)
        .addColumn('crl', bin)
        .addPrimaryKeyConstraint('ca_crls_pk', ['ca_name', 'issuer'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['ca_crls', 'ca_certificates', 'ca_authorities']) await db.schema.dropTable(table).execute();
    },
  };
}
