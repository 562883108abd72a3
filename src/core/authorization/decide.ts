/**
 * One authorization decision, in the order the service applies its rules:
 *
 * 1. **Role gate** (role-table.ts): `never`/`deny` refuse at once; the account root skips it.
 * 2. **Policies**: for actions on a key, the key policy and the caller's identity policies
 *    combined with AWS KMS's rule (root delegation); for key-independent actions, identity
 *    policies alone. An explicit Deny ends it.
 * 3. **Role allow**: the role alone allows some actions (an Auditor describing any key).
 * 4. **Grants** on the key for the caller (and the grant tokens it sent).
 * 5. **Ownership**: a CryptoUser may do anything with a key it created (a RegionPeer, the
 *    little its role allows with a replica it made).
 *
 * So an explicit Deny in a key or identity policy beats a role's allow, a grant and ownership:
 * a key owner can be fenced off from, say, ScheduleKeyDeletion by a Deny statement. Quorum
 * comes after an Allow and is the authorizer's (authorizer.ts). RetireGrant, whose grant says
 * who may retire it, has rules of its own (retire-grant-rule.ts).
 */
import { userNameOf } from '../admin/principal-names.js';
import { findAllowingGrant, grantOperationFor, parseRequestedGrant, type GrantRecord } from '../grants/index.js';
import type { KeyRecord, PrincipalRecord, PrincipalRole } from '../model.js';
import type { KmsDeps } from '../operation.js';
import {
  accessDeniedMessage,
  compilePolicy,
  evaluateIdentityOnly,
  evaluateKeyAccess,
  type AccessDecision,
  type CompiledPolicy,
  type NamedPolicy,
  type RequestFacts,
} from '../policy/index.js';
import type { PrincipalAuthorization } from './repository.js';
import {
  addKeyResourceContext,
  globalContext,
  keyResourceNeeds,
  keyContext,
  mergeRequestContext,
  requestAlias,
  type CallFacts,
  type MutableContext,
  type Subject,
} from './condition-context.js';
import { actionScope, isPeerAction, OWNING_ROLES, roleVerdict, type RoleVerdict } from './role-table.js';
import { boundPeerRegion, PEER_REGION_CONTEXT, peerRegionRefusal } from './peer-region.js';
import { decideRetireGrant } from './retire-grant-rule.js';

/** The name traces and explanations give the key policy (AWS's only key policy is `default`). */
export const KEY_POLICY_NAME = 'key-policy';

/** The caller with everything a decision reads, compiled once per call. */
export interface SubjectState extends Subject {
  /** The principal record as stored now. */
  record: PrincipalRecord;
  roles: readonly PrincipalRole[];
  identityPolicies: readonly NamedPolicy[];
  /** The same policies, compiled, without their names. */
  compiledIdentityPolicies: readonly CompiledPolicy[];
  /** Stored identity policies that no longer compile: they deny everything (fail closed). */
  brokenPolicies: readonly string[];
}

export function subjectState(rootArn: string, authorization: PrincipalAuthorization): SubjectState {
  const { principal } = authorization;
  const identityPolicies: NamedPolicy[] = [];
  const compiledIdentityPolicies: CompiledPolicy[] = [];
  const brokenPolicies: string[] = [];
  for (const p of authorization.policies) {
    try {
      const policy = compilePolicy(p.document, { kind: 'identity' });
      identityPolicies.push({ name: p.policyName, policy });
      compiledIdentityPolicies.push(policy);
    } catch {
      brokenPolicies.push(p.policyName);
    }
  }
  return {
    arn: principal.arn,
    name: principal.name,
    accountId: principal.accountId,
    isRoot: principal.arn === rootArn,
    userId: principal.userId,
    record: principal,
    tags: authorization.tags,
    roles: principal.roles,
    identityPolicies,
    compiledIdentityPolicies,
    brokenPolicies,
  };
}

/** What decided, in the words explanations and the audit trail use. */
export type DecidedBy = 'root' | 'role' | 'key-policy' | 'identity-policy' | 'grant' | 'owner';

export interface AuthorizationOutcome {
  decision: 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';
  decidedBy: DecidedBy;
  action: string;
  /** The key ARN, or `*` for key-independent actions. */
  resource: string;
  role: RoleVerdict;
  /** The policy evaluation, when policies were read. */
  policies?: AccessDecision | undefined;
  grantId?: string | undefined;
  /** The key's owner, when the key has one. */
  keyOwner?: string | undefined;
  /** AWS's AccessDeniedException message, for a denial (never policy contents). */
  message?: string | undefined;
  /** The condition context the policies saw (for explanations). */
  context: MutableContext;
}

export interface DecisionRequest {
  subject: SubjectState;
  action: string;
  key?: KeyRecord | undefined;
  /** The keys the operation passed (encryption context, algorithms …). */
  requestContext: Readonly<Record<string, string | readonly string[] | undefined>>;
  call: CallFacts;
  grantTokens: readonly string[];
  /** Trace every statement (explain); slower. */
  explain?: boolean;
  /** Skip the grant lookup (explain without the caller's tokens still looks up stored grants). */
  skipGrants?: boolean;
  /** For `kms:RetireGrant`: the grant to retire (see retire-grant-rule.ts). */
  retiring?: GrantRecord | undefined;
}

type DecisionDeps = Pick<KmsDeps, 'store' | 'backend' | 'settings'>;

/** Decides one action for one caller. Never throws AccessDenied itself: callers do. */
export async function decide(deps: DecisionDeps, request: DecisionRequest): Promise<AuthorizationOutcome> {
  const { subject, action, call } = request;
  const scope = actionScope(action);
  const key = scope === 'key' ? request.key : undefined;
  const resource = key?.arn ?? '*';
  const role: RoleVerdict = subject.isRoot ? { rule: 'allow' } : roleVerdict(subject.roles, action);
  const context = globalContext(deps, subject, call);
  const base = { action, resource, role, context, keyOwner: key?.ownerArn };

  if (role.rule === 'never' || role.rule === 'deny')
    return { ...base, decision: 'ImplicitDeny', decidedBy: 'role', message: roleDeniedMessage(subject, action, resource, role) };
  const notThisPeer = peerRegionRefusal(subject, action, request.requestContext);
  if (notThisPeer !== undefined)
    return { ...base, decision: 'ImplicitDeny', decidedBy: 'role', message: `User: ${subject.arn} is not authorized to perform: ${action} on resource: ${resource} ${notThisPeer}` };

  if (key) keyContext(context, key);
  const alias = requestAlias(action, call.input);
  if (alias !== undefined) context['kms:RequestAlias'] = alias;
  mergeRequestContext(context, request.requestContext);

  const facts: RequestFacts = {
    principalArn: subject.arn,
    principalAccountId: subject.accountId,
    partition: deps.settings.partition,
    action,
    resourceArn: resource,
    resourceAccountId: key?.accountId,
    context,
  };
  const options = { explain: request.explain === true };

  if (subject.brokenPolicies.length > 0) {
    const policies: AccessDecision = { decision: 'ExplicitDeny', decisive: [], deniedBy: 'identity', results: [] };
    return { ...base, decision: 'ExplicitDeny', decidedBy: 'identity-policy', policies, message: accessDeniedMessage(facts, policies) };
  }

  // RetireGrant follows rules of its own: the grant says who may, and only identity policies count.
  if (action === 'kms:RetireGrant' && key) return decideRetireGrant(subject, request.retiring, facts, options, base, key);

  let policies: AccessDecision;
  if (key) {
    let keyPolicy: CompiledPolicy;
    try {
      keyPolicy = compilePolicy(key.policy);
    } catch {
      // A stored policy that no longer compiles (it was valid when written): deny, fail closed.
      policies = { decision: 'ExplicitDeny', decisive: [], deniedBy: 'resource', results: [] };
      return { ...base, decision: 'ExplicitDeny', decidedBy: 'key-policy', policies, message: accessDeniedMessage(facts, policies) };
    }
    // Key tags and aliases cost a read: only when a policy mentions them (the await is skipped too).
    const needs = keyResourceNeeds([keyPolicy, ...subject.compiledIdentityPolicies]);
    if (needs.tags || needs.aliases) await addKeyResourceContext(deps, context, key, needs);
    policies = evaluateKeyAccess({ keyPolicy: { name: KEY_POLICY_NAME, policy: keyPolicy }, identityPolicies: subject.identityPolicies }, facts, options);
  } else if (subject.isRoot) {
    // The root credentials hold every identity permission (AWS root semantics).
    return { ...base, decision: 'Allow', decidedBy: 'root' };
  } else {
    policies = evaluateIdentityOnly(subject.identityPolicies, facts, options);
  }

  const withPolicies = { ...base, policies };
  if (policies.decision === 'ExplicitDeny')
    return { ...withPolicies, decision: 'ExplicitDeny', decidedBy: policySide(policies), message: accessDeniedMessage(facts, policies) };
  if (policies.decision === 'Allow') return { ...withPolicies, decision: 'Allow', decidedBy: subject.isRoot ? 'root' : policySide(policies) };
  if (role.rule === 'allow') return { ...withPolicies, decision: 'Allow', decidedBy: 'role' };

  if (key && !request.skipGrants) {
    const operation = grantOperationFor(action);
    if (operation) {
      const grant = await findAllowingGrant(deps, {
        keyId: key.keyId,
        keyArn: key.arn,
        granteePrincipalArn: subject.arn,
        operation,
        encryptionContext: encryptionContextOf(request.requestContext),
        grantTokens: request.grantTokens,
        now: call.now,
        requestedGrant: operation === 'CreateGrant' ? parseRequestedGrant(call.input) : undefined,
      });
      if (grant) return { ...withPolicies, decision: 'Allow', decidedBy: 'grant', grantId: grant.grantId };
    }
  }

  if (key && ((key.ownerArn === subject.arn && subject.roles.some((r) => OWNING_ROLES.includes(r))) || ownsAsPrimaryRegionPeer(deps, subject, action, request)))
    return { ...withPolicies, decision: 'Allow', decidedBy: 'owner' };

  return { ...withPolicies, decision: 'ImplicitDeny', decidedBy: policySide(policies), message: accessDeniedMessage(facts, policies) };
}

/**
 * Ownership of a replica follows its key's primary region, not the peer principal that made it:
 * after UpdatePrimaryRegion the new primary's deployment keeps every replica in step, those the
 * former primary made included. For a key-scoped call between regions (SyncMultiRegionKey,
 * ImportReplicaVersions), the RegionPeer bound to the primary region this deployment records for
 * the key (the operation passes that record, never the caller's word, as `hsmkms:PeerRegion`)
 * owns it; never for a key whose primary is here.
 */
function ownsAsPrimaryRegionPeer(deps: DecisionDeps, subject: SubjectState, action: string, request: DecisionRequest): boolean {
  if (!isPeerAction(action) || actionScope(action) !== 'key') return false;
  const primaryRegion = request.requestContext[PEER_REGION_CONTEXT];
  if (typeof primaryRegion !== 'string' || primaryRegion === deps.settings.region) return false;
  return boundPeerRegion(subject.roles, subject.tags) === primaryRegion;
}

/** Which side of the evaluation decided: the key policy, or identity policies. */
function policySide(policies: AccessDecision): 'key-policy' | 'identity-policy' {
  if (policies.decision === 'Allow') return policies.decisive.some((s) => s.kind === 'identity') ? 'identity-policy' : 'key-policy';
  return policies.deniedBy === 'identity' ? 'identity-policy' : 'key-policy';
}

/** The encryption context an operation passed, rebuilt from its `kms:EncryptionContext:` keys. */
export function encryptionContextOf(context: Readonly<Record<string, string | readonly string[] | undefined>>): Record<string, string> {
  const prefix = 'kms:EncryptionContext:';
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(context))
    if (name.startsWith(prefix) && typeof value === 'string') out[name.slice(prefix.length)] = value;
  return out;
}

/** AWS-style wording for a refusal by role; names the role rule, never a policy. */
export function roleDeniedMessage(subject: Pick<Subject, 'arn'>, action: string, resource: string, role: RoleVerdict): string {
  const head = `User: ${subject.arn} is not authorized to perform: ${action} on resource: ${resource}`;
  if (!role.row) return `${head} because no role rule covers ${action}`;
  const remedy = role.row.remedy ? `. ${role.row.remedy.replace('NAME', userNameOf(subject.arn))}` : '';
  if (role.rule === 'never') return `${head} because the ${role.role} role may never perform ${role.row.category}${remedy}`;
  return `${head} because none of the caller's roles allows ${role.row.category}${remedy}`;
}
