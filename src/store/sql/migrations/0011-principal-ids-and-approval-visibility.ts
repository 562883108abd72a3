/**
 * Principals get IAM's unique user id (`AIDA…`, for `aws:userid`): a column, filled in for the
 * users that exist already. Approval requests get a table of the approvers their rules named, so
 * that ListApprovalRequests can page through only the requests a caller may see.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import { generateUserId } from '../../../core/admin/principals.js';
import type { SqlFlavor } from '../dialect.js';

export function principalIdsAndApprovalVisibilitySchema(_flavor: SqlFlavor): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('principals').addColumn('user_id', 'varchar(32)').execute();
      const users = await sql<{ arn: string }>`select arn from principals where arn like ${'%:user/%'}`.execute(db);
      for (const { arn } of users.rows) await sql`update principals set user_id = ${generateUserId()} where arn = ${arn}`.execute(db);
      await db.schema.createIndex('principals_by_user_id').on('principals').column('user_id').unique().execute();

      await db.schema
        .createTable('approval_request_approvers')
        .addColumn('request_id', 'varchar(64)', (c) => c.notNull().references('approval_requests.request_id').onDelete('cascade'))
        .addColumn('approver_arn', 'varchar(2048)', (c) => c.notNull())
        .addPrimaryKeyConstraint('approval_request_approvers_pk', ['request_id', 'approver_arn'])
        .execute();
      await db.schema.createIndex('approval_request_approvers_by_approver').on('approval_request_approvers').columns(['approver_arn', 'request_id']).execute();
      await db.schema.createIndex('approval_requests_by_requester').on('approval_requests').columns(['requester_arn', 'created_at']).execute();
      const requests = await sql<{ request_id: string; requirements: string }>`select request_id, requirements from approval_requests`.execute(db);
      for (const { request_id: requestId, requirements } of requests.rows)
        for (const approver of approversOf(requirements))
          await sql`insert into approval_request_approvers (request_id, approver_arn) values (${requestId}, ${approver})`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('approval_request_approvers').execute();
      await db.schema.dropIndex('approval_requests_by_requester').execute();
      await db.schema.dropIndex('principals_by_user_id').execute();
      await db.schema.alterTable('principals').dropColumn('user_id').execute();
    },
  };
}

/** The distinct approvers of a stored requirements list (JSON); none when it cannot be read. */
function approversOf(requirements: string): string[] {
  try {
    const parsed = JSON.parse(requirements) as Array<{ approvers?: unknown }>;
    return [...new Set(parsed.flatMap((r) => (Array.isArray(r.approvers) ? r.approvers.filter((a): a is string => typeof a === 'string') : [])))];
  } catch {
    return [];
  }
}
