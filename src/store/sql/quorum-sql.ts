/**
 * {@link QuorumRepository} over Kysely. Functions over a Kysely handle (the database or a
 * transaction); {@link SqlRepository} delegates to them.
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import type {
  ApprovalRequestListPosition,
  ApprovalRequestRecord,
  ApprovalRequestStatus,
  ApprovalRequirement,
  ApprovalVote,
  QuorumRuleRecord,
} from '../../core/quorum/quorum.js';
import { MAX_QUORUM_RULES } from '../../core/quorum/quorum.js';
import type { Page } from '../../core/ports.js';
import { StoreError } from '../../core/store-error.js';
import type { SqlFlavor } from './dialect.js';
import type { ApprovalRequestsTable, ApprovalVotesTable, MetadataDatabase, QuorumRulesTable } from './schema.js';

type Db = Kysely<MetadataDatabase>;

// ───────────── rules ─────────────

export function ruleToRow(rule: QuorumRuleRecord): Insertable<QuorumRulesTable> {
  return {
    rule_id: rule.ruleId,
    action: rule.action,
    key_id: rule.keyId ?? null,
    tagged_keys_only: rule.taggedKeysOnly ? 1 : 0,
    min_approvals: rule.minApprovals,
    approvers: JSON.stringify(rule.approvers),
    created_at: rule.createdAt.getTime(),
    updated_at: rule.updatedAt.getTime(),
  };
}

export function rowToRule(row: Selectable<QuorumRulesTable>): QuorumRuleRecord {
  const rule: QuorumRuleRecord = {
    ruleId: row.rule_id,
    action: row.action,
    taggedKeysOnly: Number(row.tagged_keys_only) !== 0,
    minApprovals: Number(row.min_approvals),
    approvers: JSON.parse(row.approvers) as string[],
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
  if (row.key_id !== null) rule.keyId = row.key_id;
  return rule;
}

/** The query {@link listQuorumRules} runs (the SQLite store prepares it once). */
export function quorumRulesQuery(db: Db) {
  return db.selectFrom('quorum_rules').selectAll().orderBy('created_at').orderBy('rule_id').limit(MAX_QUORUM_RULES);
}

export async function listQuorumRules(db: Db): Promise<QuorumRuleRecord[]> {
  return (await quorumRulesQuery(db).execute()).map(rowToRule);
}

export async function getQuorumRule(db: Db, ruleId: string): Promise<QuorumRuleRecord | undefined> {
  const row = await db.selectFrom('quorum_rules').selectAll().where('rule_id', '=', ruleId).executeTakeFirst();
  return row && rowToRule(row);
}

export async function putQuorumRule(db: Db, rule: QuorumRuleRecord): Promise<void> {
  const row = ruleToRow(rule);
  const { rule_id: _id, created_at: _created, ...changes } = row;
  await db
    .insertInto('quorum_rules')
    .values(row)
    .onConflict((oc) => oc.column('rule_id').doUpdateSet(changes))
    .execute();
}

export async function deleteQuorumRule(db: Db, ruleId: string): Promise<boolean> {
  const result = await db.deleteFrom('quorum_rules').where('rule_id', '=', ruleId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// ───────────── approval requests ─────────────

function requestToRow(request: ApprovalRequestRecord): Insertable<ApprovalRequestsTable> {
  return {
    request_id: request.requestId,
    requester_arn: request.requesterArn,
    operation: request.operation,
    action: request.action,
    key_arn: request.keyArn ?? null,
    parameters_hash: request.parametersHash,
    parameters: request.parameters,
    hashed_keys: request.hashedKeys ?? null,
    withheld_parameters: request.withheldParameters === undefined ? null : JSON.stringify(request.withheldParameters),
    requirements: JSON.stringify(request.requirements),
    status: request.status,
    created_at: request.createdAt.getTime(),
    expires_at: request.expiresAt.getTime(),
    decided_at: request.decidedAt === undefined ? null : request.decidedAt.getTime(),
  };
}

function rowToRequest(row: Selectable<ApprovalRequestsTable>, votes: Selectable<ApprovalVotesTable>[]): ApprovalRequestRecord {
  const request: ApprovalRequestRecord = {
    requestId: row.request_id,
    requesterArn: row.requester_arn,
    operation: row.operation,
    action: row.action,
    parametersHash: row.parameters_hash,
    parameters: row.parameters,
    requirements: JSON.parse(row.requirements) as ApprovalRequirement[],
    status: row.status as ApprovalRequestStatus,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: new Date(Number(row.expires_at)),
    votes: votes
      .map((v) => ({ approverArn: v.approver_arn, decision: v.decision as ApprovalVote['decision'], at: new Date(Number(v.voted_at)) }))
      .sort((a, b) => a.at.getTime() - b.at.getTime() || (a.approverArn < b.approverArn ? -1 : 1)),
  };
  if (row.key_arn !== null) request.keyArn = row.key_arn;
  if (row.hashed_keys !== null) request.hashedKeys = row.hashed_keys;
  if (row.withheld_parameters !== null) request.withheldParameters = JSON.parse(row.withheld_parameters) as string[];
  if (row.decided_at !== null) request.decidedAt = new Date(Number(row.decided_at));
  return request;
}

/** Rows to records, with one query for all their votes. */
async function withVotes(db: Db, rows: Selectable<ApprovalRequestsTable>[]): Promise<ApprovalRequestRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.request_id);
  const votes = await db.selectFrom('approval_votes').selectAll().where('request_id', 'in', ids).execute();
  const byRequest = new Map<string, Selectable<ApprovalVotesTable>[]>();
  for (const vote of votes) byRequest.set(vote.request_id, [...(byRequest.get(vote.request_id) ?? []), vote]);
  return rows.map((row) => rowToRequest(row, byRequest.get(row.request_id) ?? []));
}

export async function insertApprovalRequest(db: Db, flavor: SqlFlavor, request: ApprovalRequestRecord): Promise<void> {
  try {
    await db.insertInto('approval_requests').values(requestToRow(request)).execute();
  } catch (error) {
    if (flavor.isUniqueViolation(error)) throw new StoreError('conflict', 'approval-request', request.requestId, { cause: error });
    throw error;
  }
  // Who may see it besides its requester, so that a listing filters in the query.
  const approvers = [...new Set(request.requirements.flatMap((r) => r.approvers))];
  if (approvers.length > 0)
    await db
      .insertInto('approval_request_approvers')
      .values(approvers.map((approver_arn) => ({ request_id: request.requestId, approver_arn })))
      .execute();
}

export async function getApprovalRequest(db: Db, requestId: string): Promise<ApprovalRequestRecord | undefined> {
  const row = await db.selectFrom('approval_requests').selectAll().where('request_id', '=', requestId).executeTakeFirst();
  return row && (await withVotes(db, [row]))[0];
}

/** Locks the request's row until the transaction ends (see QuorumRepository.lockApprovalRequest). */
export async function lockApprovalRequest(db: Db, flavor: SqlFlavor, requestId: string): Promise<void> {
  if (!flavor.lockRowsForUpdate) return;
  await db.selectFrom('approval_requests').select('request_id').where('request_id', '=', requestId).forUpdate().execute();
}

export async function findOpenApprovalRequest(
  db: Db,
  requesterArn: string,
  operation: string,
  parametersHash: string,
  now: Date,
): Promise<ApprovalRequestRecord | undefined> {
  const row = await db
    .selectFrom('approval_requests')
    .selectAll()
    .where('requester_arn', '=', requesterArn)
    .where('parameters_hash', '=', parametersHash)
    .where('operation', '=', operation)
    .where('status', 'in', ['Pending', 'Approved'])
    .where('expires_at', '>', now.getTime())
    // An approved request wins over a pending one (two first attempts may have raced).
    .orderBy('status')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return row && (await withVotes(db, [row]))[0];
}

/** How many Pending, unexpired requests this principal opened, counting no further than `cap`. */
export async function countPendingApprovalRequests(db: Db, requesterArn: string, now: Date, cap: number): Promise<number> {
  const rows = await db
    .selectFrom('approval_requests')
    .select('request_id')
    .where('requester_arn', '=', requesterArn)
    .where('status', '=', 'Pending')
    .where('expires_at', '>', now.getTime())
    .limit(cap)
    .execute();
  return rows.length;
}

export async function listApprovalRequests(
  db: Db,
  options: { status?: ApprovalRequestStatus | 'Expired'; now: Date; limit: number; after?: ApprovalRequestListPosition; visibleTo?: string },
): Promise<Page<ApprovalRequestRecord>> {
  const { after, visibleTo } = options;
  const now = options.now.getTime();
  let query = db.selectFrom('approval_requests').selectAll();
  if (visibleTo !== undefined)
    query = query.where((eb) =>
      eb.or([
        eb('requester_arn', '=', visibleTo),
        eb.exists(
          eb
            .selectFrom('approval_request_approvers')
            .select('approval_request_approvers.request_id')
            .whereRef('approval_request_approvers.request_id', '=', 'approval_requests.request_id')
            .where('approval_request_approvers.approver_arn', '=', visibleTo),
        ),
      ]),
    );
  if (options.status === 'Expired') query = query.where('status', 'in', ['Pending', 'Approved']).where('expires_at', '<=', now);
  else if (options.status === 'Pending' || options.status === 'Approved')
    query = query.where('status', '=', options.status).where('expires_at', '>', now);
  else if (options.status !== undefined) query = query.where('status', '=', options.status);
  if (after) {
    const createdMs = after.createdAt.getTime();
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', createdMs), eb.and([eb('created_at', '=', createdMs), eb('request_id', '<', after.requestId)])]),
    );
  }
  const size = Number.isFinite(options.limit) && options.limit >= 1 ? Math.floor(options.limit) : 1;
  const rows = await query.orderBy('created_at', 'desc').orderBy('request_id', 'desc').limit(size + 1).execute();
  const items = await withVotes(db, rows.slice(0, size));
  return { items, more: rows.length > items.length };
}

export async function addApprovalVote(db: Db, flavor: SqlFlavor, requestId: string, vote: ApprovalVote): Promise<boolean> {
  // Checked first: on PostgreSQL a failed insert would abort the caller's transaction.
  const existing = await db
    .selectFrom('approval_votes')
    .select('approver_arn')
    .where('request_id', '=', requestId)
    .where('approver_arn', '=', vote.approverArn)
    .executeTakeFirst();
  if (existing) return false;
  try {
    await db
      .insertInto('approval_votes')
      .values({ request_id: requestId, approver_arn: vote.approverArn, decision: vote.decision, voted_at: vote.at.getTime() })
      .execute();
    return true;
  } catch (error) {
    if (flavor.isUniqueViolation(error)) return false;
    throw error;
  }
}

export async function transitionApprovalRequest(
  db: Db,
  requestId: string,
  from: ApprovalRequestStatus,
  to: ApprovalRequestStatus,
  now: Date,
): Promise<boolean> {
  const result = await db
    .updateTable('approval_requests')
    .set({ status: to, decided_at: now.getTime() })
    .where('request_id', '=', requestId)
    .where('status', '=', from)
    .where('expires_at', '>', now.getTime())
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function deleteApprovalRequestsExpiredBefore(db: Db, before: Date): Promise<number> {
  const t = before.getTime();
  // Votes and approvers first (foreign keys cascade too; explicit keeps the store independent of them).
  const expired = db.selectFrom('approval_requests').select('request_id').where('expires_at', '<=', t);
  await db.deleteFrom('approval_votes').where('request_id', 'in', expired).execute();
  await db.deleteFrom('approval_request_approvers').where('request_id', 'in', expired).execute();
  const result = await db.deleteFrom('approval_requests').where('expires_at', '<=', t).executeTakeFirst();
  return Number(result.numDeletedRows);
}
