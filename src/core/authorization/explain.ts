/**
 * "Why would this call be allowed or denied?": the same decision the authorizer makes (decide.ts),
 * with every statement traced, for `hsmkms policy explain` and `HsmKms.ExplainAuthorization`.
 * Reads only: no approval request is opened, nothing is consumed.
 */
import { KmsError } from '../errors.js';
import { encryptionContextConditions } from '../encryption-context.js';
import { resolveKey } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import { guardingRules } from '../quorum/index.js';
import type { StatementTrace } from '../policy/index.js';
import { rootArn } from '../admin/principals.js';
import { decide, subjectState, type AuthorizationOutcome } from './decide.js';
import { keyMemberOf } from './condition-context.js';
import { ROLE_TABLE } from './role-table.js';

export interface ExplainRequest {
  principalArn: string;
  /** e.g. `kms:Decrypt` */
  action: string;
  /** Key id, key ARN, alias name or alias ARN (required for actions on a key). */
  keyId?: string | undefined;
  encryptionContext?: Record<string, string> | undefined;
  /** Further condition keys, e.g. `kms:EncryptionAlgorithm`, `aws:SourceIp`. */
  context?: Record<string, string | string[]> | undefined;
  sourceIp?: string | undefined;
  secureTransport?: boolean | undefined;
  grantTokens?: string[] | undefined;
  now: Date;
}

/** The four answers, as the issue names them. */
export type ExplainedDecision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny' | 'QuorumRequired';

const ACTION = /^[a-zA-Z0-9-]{1,32}:[A-Za-z0-9]{1,128}$/;

export async function explain(deps: Pick<KmsDeps, 'store' | 'backend' | 'settings'>, request: ExplainRequest): Promise<JsonObject> {
  if (!ACTION.test(request.action))
    throw new KmsError('ValidationException', `Action '${request.action.slice(0, 160)}' must look like kms:Decrypt or hsmkms:CreatePrincipal.`);
  const authorization = await deps.store.getPrincipalAuthorization(request.principalArn);
  if (!authorization) throw new KmsError('NotFoundException', `The principal ${request.principalArn.slice(0, 2048)} cannot be found.`);
  const subject = subjectState(rootArn(deps.settings), authorization);

  let key: KeyRecord | undefined;
  if (request.keyId !== undefined) key = await resolveKey(deps.store, deps.settings, request.keyId);
  else if (ROLE_TABLE.get(request.action)?.scope === 'key')
    throw new KmsError('ValidationException', `${request.action} acts on a key: give the key (KeyId) to explain it.`);

  const requestContext: Record<string, string | string[]> = {
    ...(request.encryptionContext ? encryptionContextConditions(request.encryptionContext) : {}),
    ...request.context,
  };
  const input: JsonObject = request.keyId !== undefined ? { [keyMemberOf(request.action)]: request.keyId } : {};
  const outcome = await decide(deps, {
    subject,
    action: request.action,
    key,
    requestContext,
    call: { ctx: { sourceIp: request.sourceIp, secureTransport: request.secureTransport }, input, now: request.now },
    grantTokens: request.grantTokens ?? [],
    explain: true,
  });

  let decision: ExplainedDecision = outcome.decision;
  let quorumRules: JsonObject[] | undefined;
  if (outcome.decision === 'Allow') {
    const rules = await guardingRules(deps, { action: request.action, key: outcome.resource === '*' ? undefined : key, input, callerArn: subject.arn });
    if (rules.length > 0) {
      decision = 'QuorumRequired';
      quorumRules = rules.map((r) => ({ RuleId: r.ruleId, Action: r.action, MinApprovals: r.minApprovals, Approvers: r.approvers }));
    }
  }
  return explanation(subject.arn, subject.roles, subject.isRoot, outcome, decision, quorumRules);
}

function explanation(
  principalArn: string,
  roles: readonly string[],
  isRoot: boolean,
  outcome: AuthorizationOutcome,
  decision: ExplainedDecision,
  quorumRules: JsonObject[] | undefined,
): JsonObject {
  const out: JsonObject = {
    Decision: decision,
    DecidedBy: decision === 'QuorumRequired' ? 'quorum' : outcome.decidedBy,
    Principal: { Arn: principalArn, Roles: [...roles], Root: isRoot },
    Action: outcome.action,
    Resource: outcome.resource,
    RoleRule: isRoot
      ? { Rule: 'allow', Note: 'the account root is not subject to roles' }
      : {
          Rule: outcome.role.rule,
          ...(outcome.role.role ? { Role: outcome.role.role } : {}),
          ...(outcome.role.row ? { Category: outcome.role.row.category } : { Note: `no role rule covers ${outcome.action}` }),
        },
    Summary: summary(outcome, decision),
  };
  if (outcome.keyOwner !== undefined) out.KeyOwner = outcome.keyOwner;
  if (outcome.grantId !== undefined) out.GrantId = outcome.grantId;
  if (quorumRules) out.QuorumRules = quorumRules;
  if (outcome.message !== undefined) out.Message = outcome.message;
  if (outcome.policies) {
    out.DecisiveStatements = outcome.policies.decisive.map(statementRef);
    out.Statements = outcome.policies.results.flatMap((r) => r.statements.map(statementView));
  }
  out.Context = outcome.context;
  return out;
}

function statementRef(s: StatementTrace): JsonObject {
  return { Policy: s.policy, PolicyType: s.kind === 'resource' ? 'key' : 'identity', ...(s.sid ? { Sid: s.sid } : {}), Index: s.index, Effect: s.effect };
}

function statementView(s: StatementTrace): JsonObject {
  return {
    ...statementRef(s),
    Applies: s.applies,
    PrincipalMatched: s.principalMatched,
    ActionMatched: s.actionMatched,
    ResourceMatched: s.resourceMatched,
    Conditions: s.conditions.map((c) => ({
      Operator: c.operator,
      Key: c.key,
      PolicyValues: c.expected,
      RequestValues: c.actual === undefined ? null : c.actual,
      Held: c.result,
    })),
  };
}

/** One sentence a person reads first. */
function summary(outcome: AuthorizationOutcome, decision: ExplainedDecision): string {
  const what = `${outcome.action} on ${outcome.resource}`;
  if (decision === 'QuorumRequired') return `Allowed by ${outcome.decidedBy}, but quorum rules guard ${what}: it needs an approved request.`;
  switch (outcome.decidedBy) {
    case 'root':
      return `Allowed: the account root may perform ${what}${outcome.policies ? ' (the key policy allows the account)' : ''}.`;
    case 'role':
      return outcome.decision === 'Allow'
        ? `Allowed by the ${outcome.role.role} role (${outcome.role.row?.category}).`
        : `Denied by role before any policy was read: ${outcome.message ?? ''}`;
    case 'grant':
      return `Allowed by grant ${outcome.grantId}.`;
    case 'owner':
      return `Allowed: the caller owns the key (a CryptoUser the keys it created; a RegionPeer the replicas of keys whose primary is in the region it is bound to).`;
    default: {
      const side = outcome.decidedBy === 'key-policy' ? 'the key policy' : 'an identity policy';
      if (outcome.decision === 'Allow') return `Allowed by ${side}.`;
      if (outcome.decision === 'ExplicitDeny') return `Denied by an explicit Deny in ${side}.`;
      const why =
        outcome.decidedBy === 'key-policy'
          ? 'no key policy statement allows the caller or its account'
          : outcome.resource === '*'
            ? 'no identity policy of the caller allows it'
            : 'the key policy allows the caller’s account only (root delegation) and no identity policy of the caller allows it';
      return `Denied: ${why}; no role rule, grant or ownership allows it either.`;
    }
  }
}
