/**
 * M-of-N quorum enforcement, called by the authorizer (src/core/authorization/) for every call
 * it allows: {@link enforceQuorum} decides whether a quorum rule guards the call and, if so,
 * lets it through only by consuming an approved request for exactly this call.
 *
 * The flow a client sees: the first attempt fails with QuorumApprovalRequiredException naming
 * a new approval request (bound to the caller, the operation, the key and a hash of the
 * parameters, see call-hash.ts); approvers approve it (`HsmKms.ApproveRequest`); the same call
 * repeated unchanged then succeeds once and consumes the approval; a further repeat opens a new
 * request. A DryRun call reports the same error (and opens the request) but consumes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { auditParameters } from '../audit-parameters.js';
import { KmsError } from '../errors.js';
import type { KeyRecord, PrincipalRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import { wildcardMatch } from '../policy/glob.js';
import { lockNames } from '../locks.js';
import { callHash, canonicalJson, VOLATILE_MEMBERS } from './call-hash.js';
import { userArn } from '../admin/principals.js';
import {
  GIVES_CREDENTIALS,
  MAX_PENDING_APPROVAL_REQUESTS,
  NEVER_GUARDED,
  QUORUM_TAG_KEY,
  type ApprovalRequestRecord,
  type ApprovalRequirement,
  type QuorumRuleRecord,
} from './quorum.js';

export * from './quorum.js';
export { callHash, canonicalJson, VOLATILE_MEMBERS } from './call-hash.js';

/** How long an approval request stays open unless configured otherwise. */
export const DEFAULT_APPROVAL_REQUEST_TTL_SECONDS = 3600;

export interface QuorumCheck {
  caller: PrincipalRecord;
  /** IAM action, e.g. `kms:ScheduleKeyDeletion`, `hsmkms:CreatePrincipal`. */
  action: string;
  key?: KeyRecord | undefined;
  /** Registry key of the operation (`ScheduleKeyDeletion`, `HsmKms.CreatePrincipal`). */
  operation: string;
  /** The request as the client sent it. */
  input: JsonObject;
  now: Date;
  /**
   * The call's other actions (ReEncryptTo after ReEncryptFrom, UpdateAlias on the new key): the
   * request covers the rules guarding any of them, and is bound to every key they name.
   */
  also?: ReadonlyArray<{ action: string; key?: KeyRecord | undefined }> | undefined;
}

/** Which deps quorum enforcement reads. */
export type QuorumDeps = Pick<KmsDeps, 'store' | 'settings'>;

/**
 * Undefined when no quorum rule guards the call. When rules guard it: the consumed request's
 * ids if an approved, unconsumed, unexpired request for exactly this call existed (it is now
 * consumed, by this call only); otherwise throws QuorumApprovalRequiredException naming the
 * pending request (opened now if there was none).
 */
export async function enforceQuorum(
  deps: QuorumDeps,
  check: QuorumCheck,
): Promise<{ ruleId: string; ruleIds: string[]; approvalRequestId: string } | undefined> {
  // No rule at all (the usual case): nothing guards the call, and nothing is built to say so.
  if ((await deps.store.listQuorumRules()).length === 0) return undefined;
  const actions = [check, ...(check.also ?? [])];
  const rules: QuorumRuleRecord[] = [];
  for (const action of actions)
    for (const rule of await guardingRules(deps, { ...action, input: check.input, callerArn: check.caller.arn })) if (!rules.some((r) => r.ruleId === rule.ruleId)) rules.push(rule);
  if (rules.length === 0) return undefined;
  const ruleIds = rules.map((r) => r.ruleId);
  // Every key the call acts on: a re-pointed alias on either side needs a new approval.
  const keyArns = [...new Set(actions.flatMap((a) => (a.key ? [a.key.arn] : [])))];
  const hashedKeys = keyArns.length > 0 ? keyArns.join(',') : undefined;
  const hash = callHash({ callerArn: check.caller.arn, operation: check.operation, keyArn: hashedKeys, input: check.input });
  const dryRun = check.input.DryRun === true;

  let open = await deps.store.findOpenApprovalRequest(check.caller.arn, check.operation, hash, check.now);
  if (open && !coversRules(open, rules)) {
    // The rules changed since the request was opened (a rule added or raised, an approver
    // removed): what was approved is not what the rules now ask, so the request is withdrawn
    // and the call needs a new one.
    await deps.store.transitionApprovalRequest(open.requestId, open.status, 'Rejected', check.now);
    open = undefined;
  }
  if (open?.status === 'Approved') {
    // A dry run consumes nothing, so it must not reach the operation either: one that has no
    // DryRun member would run on an approval that stays approved, again and again.
    if (dryRun)
      throw new KmsError('DryRunOperationException', `The request would have succeeded: approval request ${open.requestId} is approved. DryRun is set, so it was not used.`, {
        fields: { ApprovalRequestId: open.requestId },
      });
    if (await deps.store.transitionApprovalRequest(open.requestId, 'Approved', 'Consumed', check.now))
      return { ruleId: open.requirements[0]!.ruleId, ruleIds: open.requirements.map((r) => r.ruleId), approvalRequestId: open.requestId };
    // Another call consumed it a moment ago: this one needs an approval of its own.
  } else if (open) {
    throw approvalRequired(open, check.now);
  }

  const ttlSeconds = deps.settings.approvalRequestTtlSeconds ?? DEFAULT_APPROVAL_REQUEST_TTL_SECONDS;
  const covered = withoutVolatile(check.input);
  const shown = { ...auditParameters(check.operation, covered), ...messageForApprovers(check.operation, check.input) };
  const request: ApprovalRequestRecord = {
    requestId: newApprovalRequestId(),
    requesterArn: check.caller.arn,
    operation: check.operation,
    action: check.action,
    keyArn: check.key?.arn,
    parametersHash: hash,
    parameters: JSON.stringify(shown),
    hashedKeys,
    withheldParameters: withheldMembers(covered, shown),
    requirements: rules.map(requirementOf),
    status: 'Pending',
    createdAt: check.now,
    expiresAt: new Date(check.now.getTime() + ttlSeconds * 1000),
    votes: [],
  };
  const opened = await deps.store.transaction(async (tx) => {
    // Counted and inserted while holding the requester's name: calls on several nodes at once
    // would otherwise each count below the limit and each insert.
    await tx.holdLock(lockNames.approvalRequestsOf(check.caller.arn));
    // The same call a moment ago on another node: its request, not a second one.
    const raced = await tx.findOpenApprovalRequest(check.caller.arn, check.operation, hash, check.now);
    if (raced?.status === 'Pending' && coversRules(raced, rules)) return raced;
    if ((await tx.countPendingApprovalRequests(check.caller.arn, check.now, MAX_PENDING_APPROVAL_REQUESTS)) >= MAX_PENDING_APPROVAL_REQUESTS)
      throw new KmsError(
        'LimitExceededException',
        `You already have ${MAX_PENDING_APPROVAL_REQUESTS} approval requests pending, the most one principal may have. ` +
          'Withdraw those you no longer need (`hsmkms quorum reject ID`) or wait for them to be decided or to expire.',
      );
    await tx.insertApprovalRequest(request);
    return request;
  });
  throw approvalRequired(opened, check.now);
}

/** What {@link guardingRules} reads of a call: the caller only for calls that give credentials. */
export type GuardedCall = Pick<QuorumCheck, 'action' | 'key' | 'input'> & { callerArn: string };

/** The rules that guard this call (see {@link ruleGuards}). */
export async function guardingRules(deps: Pick<KmsDeps, 'store' | 'settings'>, check: GuardedCall): Promise<QuorumRuleRecord[]> {
  if (NEVER_GUARDED.has(check.action)) return [];
  const rules = await deps.store.listQuorumRules();
  if (rules.length === 0) return [];
  const credentialsOf = credentialsGivenTo(deps.settings, check);
  const candidates = rules.filter(
    (rule) =>
      wildcardMatch(rule.action, check.action, true) ||
      (check.key && changesQuorumTag(check.action, check.input)) ||
      (credentialsOf !== undefined && rule.approvers.includes(credentialsOf)),
  );
  if (candidates.length === 0) return [];
  const tagged = check.key ? await quorumTagRuleIds(deps, check.key) : new Set<string>();
  return candidates.filter((rule) => ruleGuards(rule, check, tagged, credentialsOf));
}

/** The principal a call gives credentials to (see {@link GIVES_CREDENTIALS}), when that is not the caller itself. */
function credentialsGivenTo(settings: KmsDeps['settings'], check: GuardedCall): string | undefined {
  if (!GIVES_CREDENTIALS.has(check.action) || typeof check.input.UserName !== 'string') return undefined;
  const arn = userArn(settings, check.input.UserName);
  return arn === check.callerArn ? undefined : arn;
}

/**
 * Whether `rule` guards the call: its action matches and it applies to the call's key — every
 * key (and key-less calls) unless scoped, the one key it names, or keys whose `hsmkms:quorum`
 * tag names it. A rule bound to a key by that tag also guards changes to the tag itself, so a
 * key cannot be released from quorum without the quorum's consent. A rule also guards every call
 * that gives credentials to one of its approvers (`credentialsOf`, see {@link GIVES_CREDENTIALS}).
 */
export function ruleGuards(
  rule: QuorumRuleRecord,
  check: Pick<QuorumCheck, 'action' | 'key' | 'input'>,
  taggedRuleIds: ReadonlySet<string>,
  credentialsOf?: string,
): boolean {
  if (credentialsOf !== undefined && rule.approvers.includes(credentialsOf)) return true;
  const bound = check.key !== undefined && taggedRuleIds.has(rule.ruleId);
  if (bound && changesQuorumTag(check.action, check.input)) return true;
  if (!wildcardMatch(rule.action, check.action, true)) return false;
  if (bound) return true;
  if (rule.keyId !== undefined) return check.key?.keyId === rule.keyId;
  return !rule.taggedKeysOnly;
}

/** Rule ids the key's `hsmkms:quorum` tag names (comma-separated). */
async function quorumTagRuleIds(deps: Pick<KmsDeps, 'store'>, key: KeyRecord): Promise<Set<string>> {
  const tag = (await deps.store.getTags(key.keyId)).find((t) => t.TagKey === QUORUM_TAG_KEY);
  if (!tag) return new Set();
  return new Set(
    tag.TagValue.split(',')
      .map((id) => id.trim())
      .filter((id) => id !== ''),
  );
}

/** TagResource or UntagResource touching the `hsmkms:quorum` tag. */
function changesQuorumTag(action: string, input: JsonObject): boolean {
  if (action === 'kms:TagResource' && Array.isArray(input.Tags))
    return input.Tags.some((t) => typeof t === 'object' && t !== null && (t as Record<string, unknown>).TagKey === QUORUM_TAG_KEY);
  if (action === 'kms:UntagResource' && Array.isArray(input.TagKeys)) return input.TagKeys.includes(QUORUM_TAG_KEY);
  return false;
}

function requirementOf(rule: QuorumRuleRecord): ApprovalRequirement {
  return { ruleId: rule.ruleId, minApprovals: rule.minApprovals, approvers: [...rule.approvers] };
}

/**
 * What an approver of a Sign must see to know what it approves, although the audit trail never
 * keeps a Message: its SHA-256 (`MessageSha256`, what `sha256sum` of a raw message prints) and,
 * for a digest (`DIGEST`, `EXTERNAL_MU`: a hash already, at most 64 bytes), the digest itself
 * (`MessageDigest`, hex), to compare with the artifact's. Without them the request showed only
 * the key and the algorithm: M-of-N on signing approved blind whatever was to be signed.
 */
function messageForApprovers(operation: string, input: JsonObject): Record<string, string> {
  if (operation !== 'Sign' || typeof input.Message !== 'string') return {};
  const message = Buffer.from(input.Message, 'base64');
  const digest = input.MessageType === 'DIGEST' || input.MessageType === 'EXTERNAL_MU';
  return {
    MessageSha256: createHash('sha256').update(message).digest('hex'),
    ...(digest && message.length <= 64 ? { MessageDigest: message.toString('hex') } : {}),
  };
}

/** The members the call hash covers (see call-hash.ts). */
function withoutVolatile(input: JsonObject): JsonObject {
  const covered: JsonObject = {};
  for (const [name, value] of Object.entries(input)) if (!VOLATILE_MEMBERS.has(name)) covered[name] = value;
  return covered;
}

/** Members of `covered` that `shown` leaves out or shows otherwise (cut, a secret, a blob), sorted. */
function withheldMembers(covered: JsonObject, shown: Record<string, unknown>): string[] {
  return Object.keys(covered)
    .filter((name) => covered[name] !== undefined && !(Object.hasOwn(shown, name) && canonicalJson(shown[name]) === canonicalJson(covered[name])))
    .sort();
}

/** Approvals that count toward one requirement: distinct listed approvers, never the requester. */
export function approvalsFor(request: Pick<ApprovalRequestRecord, 'requesterArn' | 'votes'>, requirement: ApprovalRequirement): string[] {
  const approvers = new Set(requirement.approvers);
  const counted = new Set<string>();
  for (const vote of request.votes)
    if (vote.decision === 'Approve' && vote.approverArn !== request.requesterArn && approvers.has(vote.approverArn)) counted.add(vote.approverArn);
  return [...counted];
}

/**
 * Whether an open request still satisfies the rules guarding the call now: an approved one has,
 * for every current rule, MinApprovals from that rule's current approvers; a pending one asks
 * for every current rule at least as much (as many approvals, from no one the rule has dropped).
 */
export function coversRules(request: Pick<ApprovalRequestRecord, 'requesterArn' | 'votes' | 'requirements' | 'status'>, rules: readonly QuorumRuleRecord[]): boolean {
  if (request.status === 'Approved') return rules.every((rule) => approvalsFor(request, requirementOf(rule)).length >= rule.minApprovals);
  return rules.every((rule) =>
    request.requirements.some((r) => r.ruleId === rule.ruleId && r.minApprovals >= rule.minApprovals && r.approvers.every((a) => rule.approvers.includes(a))),
  );
}

/** Whether every requirement of the request has its MinApprovals. */
export function isFullyApproved(request: Pick<ApprovalRequestRecord, 'requesterArn' | 'votes' | 'requirements'>): boolean {
  return request.requirements.every((r) => approvalsFor(request, r).length >= r.minApprovals);
}

/** `ar-` and 32 hex digits. */
export function newApprovalRequestId(): string {
  return `ar-${randomBytes(16).toString('hex')}`;
}

/** `qr-` and 16 hex digits. */
export function newQuorumRuleId(): string {
  return `qr-${randomBytes(8).toString('hex')}`;
}

/** The error a guarded call without approval gets: HTTP 400, with the request id as a field. */
export function approvalRequired(request: ApprovalRequestRecord, now: Date): KmsError {
  const progress = request.requirements
    .map((r) => `${r.ruleId}: ${approvalsFor(request, r).length} of ${r.minApprovals} approvals`)
    .join('; ');
  const minutes = Math.max(1, Math.ceil((request.expiresAt.getTime() - now.getTime()) / 60_000));
  return new KmsError(
    'QuorumApprovalRequiredException',
    `This call needs quorum approval. Approval request ${request.requestId} is pending (${progress}). ` +
      `Ask an approver to run \`hsmkms quorum approve ${request.requestId}\`, then repeat the same call unchanged within ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    { fields: { ApprovalRequestId: request.requestId } },
  );
}
