/**
 * What the `HsmKms.*` quorum operations share: request members validated with AWS's wording,
 * who may see an approval request, and the shapes the operations answer with.
 */
import { KmsError } from '../../errors.js';
import { keyArn } from '../../key-resolver.js';
import type { PrincipalRecord } from '../../model.js';
import type { JsonObject, KmsDeps } from '../../operation.js';
import { wildcardMatch } from '../../policy/glob.js';
import { ROLE_TABLE } from '../../authorization/role-table.js';
import { constraintError, epochSeconds, requiredString } from '../../validation.js';
import { approvalsFor } from '../index.js';
import { NEVER_GUARDED, type ApprovalRequestRecord, type ApprovalRequestStatus, type QuorumRuleRecord } from '../quorum.js';
import { callerText } from '../../caller-text.js';

/** `kms:Name`, `hsmkms:Name`, with `*`/`?` wildcards; plain characters only (linear to match). */
const ACTION_PATTERN = /^(\*|(kms|hsmkms):[A-Za-z*?]{1,128})$/;
/** `ar-` and 32 hex digits. */
const REQUEST_ID_PATTERN = /^ar-[0-9a-f]{32}$/;

/** `Action`: must name (or match, with wildcards) at least one action this service knows. */
export function parseRuleAction(input: JsonObject): string {
  const action = requiredString(input, 'Action', { min: 1, max: 140, pattern: ACTION_PATTERN });
  const matches = [...ROLE_TABLE.keys()].filter((known) => !NEVER_GUARDED.has(known) && wildcardMatch(action, known, true));
  if (matches.length === 0)
    throw new KmsError(
      'ValidationException',
      `Action ${action} matches no action quorum can guard (e.g. kms:ScheduleKeyDeletion, kms:PutKeyPolicy, hsmkms:CreatePrincipal, kms:*).`,
    );
  return action;
}

/** `ApprovalRequestId`: NotFoundException for anything that cannot be a request id, as for one that is gone. */
export function parseApprovalRequestId(input: JsonObject): string {
  const id = requiredString(input, 'ApprovalRequestId', { min: 1, max: 128 });
  // Not echoed: it may hold anything (control characters included).
  if (!REQUEST_ID_PATTERN.test(id)) throw new KmsError('NotFoundException', 'No approval request has that id; approval request ids are ar- followed by 32 hexadecimal digits.');
  return id;
}

export function approvalRequestNotFound(id: string): KmsError {
  return new KmsError('NotFoundException', `Approval request ${callerText(id, 128)} does not exist (it may have expired and been removed).`);
}

/** `Approvers`: 1–32 principals of this account by user name or ARN; returned as sorted ARNs. */
export async function parseApprovers(deps: Pick<KmsDeps, 'store' | 'settings'>, input: JsonObject, max: number): Promise<string[]> {
  const value = input.Approvers;
  if (value === undefined || value === null) throw constraintError('Approvers', null, 'Member must not be null');
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new KmsError('SerializationException', "Field 'Approvers' must be a list of strings.");
  if (value.length < 1) throw constraintError('Approvers', '[]', 'Member must have length greater than or equal to 1');
  if (value.length > max) throw constraintError('Approvers', `[${value.length} items]`, `Member must have length less than or equal to ${max}`);
  const arns = new Set<string>();
  for (const entry of value as string[]) {
    if (entry.length < 1 || entry.length > 2048) throw constraintError('Approvers', entry, 'Member must have length between 1 and 2048 for each element');
    const arn = entry.startsWith('arn:') ? entry : `arn:${deps.settings.partition}:iam::${deps.settings.accountId}:user/${entry}`;
    if (!(await deps.store.getPrincipal(arn)))
      throw new KmsError('NotFoundException', `Approver ${callerText(entry, 256)} is not a principal of this account.`);
    arns.add(arn);
  }
  return [...arns].sort();
}

/** The status a client sees: Pending and Approved requests past their expiry are `Expired`. */
export function visibleStatus(request: ApprovalRequestRecord, now: Date): ApprovalRequestStatus | 'Expired' {
  if ((request.status === 'Pending' || request.status === 'Approved') && request.expiresAt.getTime() <= now.getTime()) return 'Expired';
  return request.status;
}

/**
 * Who may see a request: its requester, anyone it names as an approver, and those who oversee
 * quorum (CryptoOfficers, Auditors, the account root).
 */
export function maySee(request: ApprovalRequestRecord, caller: PrincipalRecord, rootArn: string): boolean {
  if (seesAll(caller, rootArn)) return true;
  return caller.arn === request.requesterArn || request.requirements.some((r) => r.approvers.includes(caller.arn));
}

/** Whether the caller oversees quorum (CryptoOfficers, Auditors, the root) and so sees every request. */
export function seesAll(caller: PrincipalRecord, rootArn: string): boolean {
  return caller.arn === rootArn || caller.roles.includes('CryptoOfficer') || caller.roles.includes('Auditor');
}

/** An approval request as the API shows it. */
export function approvalRequestView(request: ApprovalRequestRecord, now: Date): JsonObject {
  let parameters: unknown;
  try {
    parameters = JSON.parse(request.parameters);
  } catch {
    parameters = {};
  }
  return {
    ApprovalRequestId: request.requestId,
    Status: visibleStatus(request, now),
    Requester: request.requesterArn,
    Operation: request.operation,
    Action: request.action,
    ...(request.keyArn !== undefined ? { KeyId: request.keyArn } : {}),
    Parameters: parameters,
    // What the approval covers beyond Parameters, so that an approver can check the call it would allow (`hsmkms quorum get --call`).
    ...(request.withheldParameters !== undefined ? { WithheldParameters: [...request.withheldParameters] } : {}),
    ParametersHash: request.parametersHash,
    ...(request.hashedKeys !== undefined ? { HashedKeyArns: request.hashedKeys.split(',') } : {}),
    Rules: request.requirements.map((r) => ({
      RuleId: r.ruleId,
      MinApprovals: r.minApprovals,
      Approvers: [...r.approvers],
      Approvals: approvalsFor(request, r),
    })),
    Votes: request.votes.map((v) => ({ Approver: v.approverArn, Decision: v.decision, Date: epochSeconds(v.at) })),
    CreationDate: epochSeconds(request.createdAt),
    ExpirationDate: epochSeconds(request.expiresAt),
    ...(request.decidedAt !== undefined ? { DecisionDate: epochSeconds(request.decidedAt) } : {}),
  };
}

/** A quorum rule as the API shows it. */
export function quorumRuleView(rule: QuorumRuleRecord, settings: KmsDeps['settings']): JsonObject {
  return {
    RuleId: rule.ruleId,
    Action: rule.action,
    ...(rule.keyId !== undefined ? { KeyId: keyArn(settings, rule.keyId) } : {}),
    TaggedKeysOnly: rule.taggedKeysOnly,
    MinApprovals: rule.minApprovals,
    Approvers: [...rule.approvers],
    CreationDate: epochSeconds(rule.createdAt),
    LastUpdatedDate: epochSeconds(rule.updatedAt),
  };
}
