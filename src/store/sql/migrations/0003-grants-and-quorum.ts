/**
 * Grants on keys, quorum rules, approval requests and their votes. Grants and key-scoped
 * quorum rules go with their key (foreign keys cascade; deleteKey also deletes them itself).
 */
import type { Kysely, Migration } from 'kysely';
import type { SqlFlavor } from '../dialect.js';

export function grantsAndQuorumSchema(flavor: SqlFlavor): Migration {
  const big = flavor.bigintType;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('grants')
        .addColumn('grant_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('key_id', 'varchar(64)', (c) => c.notNull().references('keys.key_id').onDelete('cascade'))
        .addColumn('name', 'varchar(256)')
        .addColumn('grantee_principal', 'varchar(256)', (c) => c.notNull())
        .addColumn('retiring_principal', 'varchar(256)')
        .addColumn('issuing_account', 'varchar(256)', (c) => c.notNull())
        .addColumn('creator_principal', 'varchar(2048)', (c) => c.notNull())
        // `,Decrypt,Encrypt,`: the authorizer filters with LIKE '%,Decrypt,%'.
        .addColumn('operations', 'varchar(1024)', (c) => c.notNull())
        .addColumn('context_equals', 'text')
        .addColumn('context_subset', 'text')
        .addColumn('creation_date', big, (c) => c.notNull())
        .execute();
      // ListGrants pages a key's grants in (creation_date, grant_id) order.
      await db.schema.createIndex('grants_by_key').on('grants').columns(['key_id', 'creation_date', 'grant_id']).execute();
      // The authorizer's lookup: one key, one grantee.
      await db.schema.createIndex('grants_by_grantee').on('grants').columns(['key_id', 'grantee_principal', 'grant_id']).execute();
      await db.schema.createIndex('grants_by_retiring').on('grants').columns(['retiring_principal', 'creation_date', 'grant_id']).execute();
      await db.schema.createIndex('grants_by_name').on('grants').columns(['key_id', 'name']).execute();

      await db.schema
        .createTable('quorum_rules')
        .addColumn('rule_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('action', 'varchar(256)', (c) => c.notNull())
        .addColumn('key_id', 'varchar(64)', (c) => c.references('keys.key_id').onDelete('cascade'))
        .addColumn('tagged_keys_only', 'integer', (c) => c.notNull())
        .addColumn('min_approvals', 'integer', (c) => c.notNull())
        // JSON array of principal ARNs.
        .addColumn('approvers', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('approval_requests')
        .addColumn('request_id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('requester_arn', 'varchar(2048)', (c) => c.notNull())
        .addColumn('operation', 'varchar(128)', (c) => c.notNull())
        .addColumn('action', 'varchar(256)', (c) => c.notNull())
        .addColumn('key_arn', 'varchar(2048)')
        .addColumn('parameters_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('parameters', 'text', (c) => c.notNull())
        // JSON: the rules' requirements as they were when the request was opened.
        .addColumn('requirements', 'text', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('decided_at', big)
        .execute();
      // A retried guarded call finds its request by caller and call hash.
      await db.schema.createIndex('approval_requests_by_call').on('approval_requests').columns(['requester_arn', 'parameters_hash']).execute();
      await db.schema.createIndex('approval_requests_by_age').on('approval_requests').columns(['created_at', 'request_id']).execute();
      await db.schema.createIndex('approval_requests_by_expiry').on('approval_requests').column('expires_at').execute();

      await db.schema
        .createTable('approval_votes')
        .addColumn('request_id', 'varchar(64)', (c) => c.notNull().references('approval_requests.request_id').onDelete('cascade'))
        .addColumn('approver_arn', 'varchar(2048)', (c) => c.notNull())
        .addColumn('decision', 'varchar(16)', (c) => c.notNull())
        .addColumn('voted_at', big, (c) => c.notNull())
        // One vote per approver and request: distinct approvers by construction.
        .addPrimaryKeyConstraint('approval_votes_pk', ['request_id', 'approver_arn'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['approval_votes', 'approval_requests', 'quorum_rules', 'grants']) await db.schema.dropTable(table).execute();
    },
  };
}
