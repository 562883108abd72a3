/**
 * The IAM policy evaluator for key policies and identity policies, with AWS KMS's rules for
 * combining them. Pure and synchronous: no I/O, no clock (time comes in the context as
 * `aws:CurrentTime`/`aws:EpochTime`).
 *
 * Semantics (IAM User Guide, "Policy evaluation logic"; AWS KMS Developer Guide, "Troubleshooting
 * key access"): an explicit Deny in any policy wins; otherwise the request is allowed when the key
 * policy allows the caller itself, or when the key policy allows the caller's account (its root
 * ARN or bare id: a delegation to IAM) and an identity policy of the caller allows the action on
 * the key; otherwise it is implicitly denied. A caller from another account always needs both.
 *
 * Work bound: every character comparison made while evaluating is charged to a
 * {@link WorkMeter}. One {@link evaluatePolicy} call walks each statement once (O(policy size))
 * and makes at most {@link MAX_EVALUATION_STEPS} comparisons, and so does one
 * {@link evaluateKeyAccess} or {@link evaluateIdentityOnly} call for all the policies it reads
 * together (they share one meter); a policy that would need more
 * (only pathological wildcard patterns against long request values come near it) is decided
 * fail-closed: the result is an explicit deny with `workLimitExceeded` set. Each wildcard match
 * is linear-time in the common case and O(|pattern| × |text|) at worst (see `glob.ts`), never
 * exponential.
 */
import {
  compiledFor,
  type CompiledPolicy,
  type CompiledPrincipal,
  type CompiledResource,
  type CompiledStatement,
} from './compile.js';
import { arnComponentsMatch, evaluateCondition, heldCondition, traceCondition, type ConditionTrace } from './conditions.js';
import { ContextView, type ConditionContext } from './context.js';
import { globMatch, WorkLimitExceeded, WorkMeter } from './glob.js';
import { splitArn } from './patterns.js';
import type { PolicyDocument, PolicyKind } from './policy-document.js';

export type { ConditionTrace } from './conditions.js';

/**
 * The most character comparisons one {@link evaluatePolicy} call may make (about 4 million: a
 * few milliseconds). Real policies use a tiny fraction of it.
 */
export const MAX_EVALUATION_STEPS = 1 << 22;

/** What the evaluator needs to know about a request. Build one per request and reuse it for every policy. */
export interface RequestFacts {
  /** The caller, e.g. `arn:aws:iam::111122223333:user/alice` (the account root: `arn:aws:iam::111122223333:root`). */
  readonly principalArn: string;
  /** The caller's account id. */
  readonly principalAccountId: string;
  /** The partition of ARNs, e.g. `aws`. */
  readonly partition: string;
  /** The IAM action, e.g. `kms:Decrypt` (matched case-insensitively). */
  readonly action: string;
  /** The key's ARN, or `*` for key-independent actions (CreateKey, ListKeys, GenerateRandom, …). */
  readonly resourceArn: string;
  /** The account that owns the key; defaults to the account in `resourceArn`, else the caller's. */
  readonly resourceAccountId?: string | undefined;
  /**
   * Condition keys and values (see `CONDITION_KEY_TYPES`): a string for single-valued keys, a
   * string array for multivalued ones, `undefined` (or no entry) when the request lacks the key.
   * Key names are matched case-insensitively. Include `aws:username`, `aws:PrincipalTag/…` and
   * the like here: policy variables read them too.
   */
  readonly context: ConditionContext;
  /** Extra values for policy variables, overriding the context (rarely needed). */
  readonly variables?: Readonly<Record<string, string>> | undefined;
}

/** How a statement's Principal (or NotPrincipal) relates to the caller. */
export type PrincipalMatch =
  /** Names the caller itself, or `*` (or NotPrincipal that does not exclude the caller). */
  | 'direct'
  /** Names the caller's account (root ARN or bare id): delegates to the account's identity policies. */
  | 'account'
  | 'none'
  /** An identity policy statement: it has no principal. */
  | 'not-applicable';

/** How one statement fared against the request. */
export interface StatementTrace {
  /** The name the policy was evaluated under (e.g. `key-policy`, or the identity policy's name). */
  readonly policy: string;
  readonly kind: PolicyKind;
  readonly sid: string | undefined;
  /** Position of the statement in its policy, from 0. */
  readonly index: number;
  readonly effect: 'Allow' | 'Deny';
  readonly principalMatched: PrincipalMatch;
  readonly actionMatched: boolean;
  readonly resourceMatched: boolean;
  /** Every condition of the statement with its result (empty when it has none). */
  readonly conditions: readonly ConditionTrace[];
  readonly conditionsMatched: boolean;
  /** Whether the statement's effect applies to this request. */
  readonly applies: boolean;
}

/** The outcome of one policy for one request. */
export interface PolicyResult {
  readonly policy: string;
  readonly kind: PolicyKind;
  /** A Deny statement applies (or the evaluation ran out of budget: see `workLimitExceeded`). */
  readonly explicitDeny: boolean;
  /** An Allow statement applies that names the caller itself or `*` (for identity policies: any applying Allow). */
  readonly allowedDirectly: boolean;
  /**
   * An Allow statement applies only because it names the caller's account (root ARN or bare id):
   * in a key policy, a delegation to the caller's identity policies.
   */
  readonly allowedViaAccount: boolean;
  /** The caller's account is not the key's account (then identity policies must allow too). */
  readonly crossAccount: boolean;
  /**
   * The statements that apply; with `explain: true`, every statement of the policy, applying
   * or not, with the result of each part.
   */
  readonly statements: readonly StatementTrace[];
  /** The evaluation exceeded {@link MAX_EVALUATION_STEPS} and was decided fail-closed (explicit deny). */
  readonly workLimitExceeded: boolean;
  /** Comparisons made (for tests and `policy explain`). */
  readonly steps: number;
}

export interface EvaluateOptions {
  /** `resource` for a key policy, `identity` for a principal's policy. */
  readonly kind: PolicyKind;
  /** Shown in traces: `key-policy`, or the identity policy's name. */
  readonly name: string;
  /** Trace every statement, not just those that apply (for `policy explain`; slower). */
  readonly explain?: boolean | undefined;
  /** A meter shared across several evaluations; by default each call gets its own budget. */
  readonly meter?: WorkMeter | undefined;
}

/**
 * The facts of a request in the form the matchers want, computed once per request; what only
 * some policies need (the key ARN's components) is computed on first use.
 */
class Prepared {
  readonly view: ContextView;
  /** The action, lower-cased (actions match case-insensitively). */
  readonly action: string;
  /** Whether the caller is its account's root (`arn:<partition>:iam::<account>:root`). */
  readonly isRoot: boolean;
  readonly crossAccount: boolean;
  private parts: readonly string[] | undefined | null = null;

  constructor(readonly facts: RequestFacts) {
    this.view = new ContextView(facts.context, facts.variables);
    this.action = facts.action.toLowerCase();
    const arn = facts.principalArn;
    this.isRoot = arn.endsWith(':root') && arn === `arn:${facts.partition}:iam::${facts.principalAccountId}:root`;
    this.crossAccount = (facts.resourceAccountId ?? arnAccount(facts.resourceArn) ?? facts.principalAccountId) !== facts.principalAccountId;
  }

  /** The key ARN's six components; `undefined` for `*` (key-independent actions) or a malformed ARN. */
  get resourceParts(): readonly string[] | undefined {
    if (this.parts === null) this.parts = this.facts.resourceArn === '*' ? undefined : splitArn(this.facts.resourceArn);
    return this.parts;
  }
}

/** The account component of an ARN, or `undefined`. */
function arnAccount(arn: string): string | undefined {
  let start = 0;
  for (let n = 0; n < 4; n++) {
    const colon = arn.indexOf(':', start);
    if (colon < 0) return undefined;
    start = colon + 1;
  }
  const end = arn.indexOf(':', start);
  return end < 0 ? undefined : arn.slice(start, end);
}

function prepare(facts: RequestFacts): Prepared {
  return new Prepared(facts);
}

/**
 * Evaluates one policy against a request.
 *
 * @param policy a compiled policy ({@link compilePolicy}) or a parsed document
 * @param facts the request
 * @param options the kind of policy and the name traces show it under
 */
export function evaluatePolicy(policy: CompiledPolicy | PolicyDocument, facts: RequestFacts, options: EvaluateOptions): PolicyResult {
  return evaluatePrepared(policy, prepare(facts), options);
}

function evaluatePrepared(policy: CompiledPolicy | PolicyDocument, prepared: Prepared, options: EvaluateOptions): PolicyResult {
  const compiled = 'document' in policy ? policy : compiledFor(policy, options.kind);
  // A key policy read as an identity policy would lose its principals: allow everyone.
  if (compiled.kind !== options.kind)
    throw new TypeError(`a policy compiled as ${compiled.kind} cannot be evaluated as ${options.kind} (compilePolicy(text, { kind }))`);
  const meter = options.meter ?? new WorkMeter(MAX_EVALUATION_STEPS);
  const start = meter.steps;
  const explain = options.explain === true;
  const statements: StatementTrace[] = [];
  let explicitDeny = false;
  let allowedDirectly = false;
  let allowedViaAccount = false;
  try {
    for (const statement of compiled.statements) {
      const principal = options.kind === 'identity' ? 'not-applicable' : matchStatementPrincipal(statement, prepared);
      if (!explain) {
        if (principal === 'none' || !matchAction(statement, prepared, meter) || !matchResource(statement, prepared, meter)) continue;
        if (!conditionsHold(statement, prepared, meter)) continue;
        // Every condition just held: the trace says so rather than deciding each one again.
        statements.push(trace(statement, prepared, meter, options, principal, true, true, true));
      } else {
        const t = trace(statement, prepared, meter, options, principal, matchAction(statement, prepared, meter), matchResource(statement, prepared, meter));
        statements.push(t);
        if (!t.applies) continue;
      }
      if (statement.effect === 'Deny') explicitDeny = true;
      else if (principal === 'account') allowedViaAccount = true;
      else allowedDirectly = true;
    }
  } catch (error) {
    if (!(error instanceof WorkLimitExceeded)) throw error;
    return {
      policy: options.name,
      kind: options.kind,
      explicitDeny: true,
      allowedDirectly: false,
      allowedViaAccount: false,
      crossAccount: prepared.crossAccount,
      statements,
      workLimitExceeded: true,
      steps: meter.steps - start,
    };
  }
  return {
    policy: options.name,
    kind: options.kind,
    explicitDeny,
    allowedDirectly,
    allowedViaAccount: allowedViaAccount && !allowedDirectly,
    crossAccount: prepared.crossAccount,
    statements,
    workLimitExceeded: false,
    steps: meter.steps - start,
  };
}

function trace(
  statement: CompiledStatement,
  prepared: Prepared,
  meter: WorkMeter,
  options: EvaluateOptions,
  principal: PrincipalMatch,
  actionMatched: boolean,
  resourceMatched: boolean,
  held = false,
): StatementTrace {
  const conditions = statement.conditions.map((c) => (held ? heldCondition(c, prepared.view) : traceCondition(c, prepared.view, meter)));
  const conditionsMatched = conditions.every((c) => c.result);
  return {
    policy: options.name,
    kind: options.kind,
    sid: statement.sid,
    index: statement.index,
    effect: statement.effect,
    principalMatched: principal,
    actionMatched,
    resourceMatched,
    conditions,
    conditionsMatched,
    applies: principal !== 'none' && actionMatched && resourceMatched && conditionsMatched,
  };
}

function matchStatementPrincipal(statement: CompiledStatement, prepared: Prepared): PrincipalMatch {
  const principal = statement.principal;
  // A key policy statement always has one (parsePolicyDocument requires it).
  if (!principal) return 'none';
  const match = matchPrincipal(principal, prepared);
  if (!statement.notPrincipal) return match;
  // NotPrincipal applies to everyone it does not name; naming the account names its users.
  return match === 'none' ? 'direct' : 'none';
}

function matchPrincipal(principal: CompiledPrincipal, prepared: Prepared): PrincipalMatch {
  const facts = prepared.facts;
  if (principal.any || principal.arns.has(facts.principalArn)) return 'direct';
  if (principal.accounts.has(facts.principalAccountId) || principal.rootAccounts.get(facts.principalAccountId)?.has(facts.partition))
    // The root credentials are the account: naming the account names them directly.
    return prepared.isRoot ? 'direct' : 'account';
  return 'none';
}

function matchAction(statement: CompiledStatement, prepared: Prepared, meter: WorkMeter): boolean {
  let matched = false;
  for (const glob of statement.actions)
    if (globMatch(glob, prepared.action, meter)) {
      matched = true;
      break;
    }
  return matched !== statement.notAction;
}

function matchResource(statement: CompiledStatement, prepared: Prepared, meter: WorkMeter): boolean {
  let matched = false;
  for (const resource of statement.resources)
    if (resourceMatches(resource, prepared, meter)) {
      matched = true;
      break;
    }
  return matched !== statement.notResource;
}

/**
 * `*` matches any resource (in a key policy: this key). An ARN pattern matches a key ARN
 * component by component; it never matches `*`, the resource of key-independent actions.
 */
function resourceMatches(resource: CompiledResource, prepared: Prepared, meter: WorkMeter): boolean {
  meter.charge(1);
  if (resource.any) return true;
  const parts = prepared.resourceParts;
  const components = resource.arn.components;
  return parts !== undefined && components !== undefined && arnComponentsMatch(components, parts, prepared.view, meter);
}

function conditionsHold(statement: CompiledStatement, prepared: Prepared, meter: WorkMeter): boolean {
  for (const condition of statement.conditions) if (!evaluateCondition(condition, prepared.view, meter)) return false;
  return true;
}

/** The three outcomes of an authorization, as `policy explain` and the audit trail name them. */
export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

/** A decision with the statements that made it. */
export interface AccessDecision {
  readonly decision: Decision;
  /**
   * For ExplicitDeny: every applying Deny statement. For Allow: the allowing key-policy
   * statements, plus the allowing identity-policy statements when they were needed. For
   * ImplicitDeny: empty.
   */
  readonly decisive: readonly StatementTrace[];
  /**
   * For a denial, the kind of policy AWS's message names: `resource` ("…with an explicit deny
   * in a resource-based policy" / "…because no resource-based policy allows the … action") or
   * `identity` (the same with "identity-based").
   */
  readonly deniedBy: PolicyKind | undefined;
  /** The results the decision was made from (key policy first, when there is one). */
  readonly results: readonly PolicyResult[];
}

/**
 * AWS KMS's rule for a key-resource action (Encrypt, Decrypt, DescribeKey, PutKeyPolicy, …):
 * an explicit Deny anywhere → ExplicitDeny; the key policy allows the caller directly (and the
 * caller is in the key's account) → Allow; the key policy allows the caller or its account and
 * an identity policy of the caller allows → Allow; else ImplicitDeny. Grants, roles and
 * ownership are the authorizer's to add.
 */
export function combineKeyAccess(input: { keyPolicy: PolicyResult; identityPolicies: readonly PolicyResult[] }): AccessDecision {
  const { keyPolicy, identityPolicies } = input;
  const results = [keyPolicy, ...identityPolicies];
  if (results.some((r) => r.explicitDeny))
    return {
      decision: 'ExplicitDeny',
      decisive: applying(results, 'Deny'),
      deniedBy: keyPolicy.explicitDeny ? 'resource' : 'identity',
      results,
    };
  const identityAllows = identityPolicies.some((r) => r.allowedDirectly || r.allowedViaAccount);
  if (keyPolicy.allowedDirectly && !keyPolicy.crossAccount)
    return { decision: 'Allow', decisive: applying([keyPolicy], 'Allow').filter((s) => s.principalMatched === 'direct'), deniedBy: undefined, results };
  if ((keyPolicy.allowedDirectly || keyPolicy.allowedViaAccount) && identityAllows)
    return { decision: 'Allow', decisive: applying(results, 'Allow'), deniedBy: undefined, results };
  const keyPolicyAllows = keyPolicy.allowedDirectly || keyPolicy.allowedViaAccount;
  return { decision: 'ImplicitDeny', decisive: [], deniedBy: keyPolicyAllows ? 'identity' : 'resource', results };
}

function applying(results: readonly PolicyResult[], effect: 'Allow' | 'Deny'): StatementTrace[] {
  const out: StatementTrace[] = [];
  for (const r of results) for (const s of r.statements) if (s.applies && s.effect === effect) out.push(s);
  return out;
}

/** A policy with the name traces show it under. */
export interface NamedPolicy {
  readonly name: string;
  readonly policy: CompiledPolicy | PolicyDocument;
}

/**
 * Key-independent actions (CreateKey, ListKeys, ListAliases, GenerateRandom,
 * CreateCustomKeyStore, …), which AWS authorizes by the caller's identity policies alone: an
 * explicit Deny → ExplicitDeny; an applying Allow → Allow; else ImplicitDeny. Use
 * `resourceArn: '*'` in `facts`. (The account root's implicit full permissions are the
 * authorizer's to apply.)
 */
export function evaluateIdentityOnly(
  identityPolicies: readonly NamedPolicy[],
  facts: RequestFacts,
  options: { explain?: boolean; meter?: WorkMeter } = {},
): AccessDecision {
  const prepared = prepare(facts);
  const meter = options.meter ?? new WorkMeter(MAX_EVALUATION_STEPS);
  const results = identityPolicies.map((p) =>
    evaluatePrepared(p.policy, prepared, { kind: 'identity', name: p.name, explain: options.explain, meter }),
  );
  if (results.some((r) => r.explicitDeny))
    return { decision: 'ExplicitDeny', decisive: applying(results, 'Deny'), deniedBy: 'identity', results };
  if (results.some((r) => r.allowedDirectly))
    return { decision: 'Allow', decisive: applying(results, 'Allow'), deniedBy: undefined, results };
  return { decision: 'ImplicitDeny', decisive: [], deniedBy: 'identity', results };
}

/**
 * Evaluates a key policy and the caller's identity policies and combines them
 * ({@link combineKeyAccess}): the usual call for a key-resource action.
 */
export function evaluateKeyAccess(
  input: { keyPolicy: NamedPolicy; identityPolicies: readonly NamedPolicy[] },
  facts: RequestFacts,
  options: { explain?: boolean; meter?: WorkMeter } = {},
): AccessDecision {
  const prepared = prepare(facts);
  const meter = options.meter ?? new WorkMeter(MAX_EVALUATION_STEPS);
  const keyPolicy = evaluatePrepared(input.keyPolicy.policy, prepared, {
    kind: 'resource',
    name: input.keyPolicy.name,
    explain: options.explain,
    meter,
  });
  const identityPolicies = input.identityPolicies.map((p) =>
    evaluatePrepared(p.policy, prepared, { kind: 'identity', name: p.name, explain: options.explain, meter }),
  );
  return combineKeyAccess({ keyPolicy, identityPolicies });
}

/**
 * AWS's AccessDeniedException message for a denial, naming the caller, action and resource but
 * never the policy's contents, e.g. "User: arn:aws:iam::111122223333:user/bob is not authorized
 * to perform: kms:Decrypt on resource: arn:aws:kms:…:key/… because no resource-based policy
 * allows the kms:Decrypt action".
 */
export function accessDeniedMessage(facts: Pick<RequestFacts, 'principalArn' | 'action' | 'resourceArn'>, decision: AccessDecision): string {
  const policyType = decision.deniedBy === 'identity' ? 'an identity-based' : 'a resource-based';
  const head = `User: ${facts.principalArn} is not authorized to perform: ${facts.action} on resource: ${facts.resourceArn}`;
  if (decision.decision === 'ExplicitDeny') return `${head} with an explicit deny in ${policyType} policy`;
  const noPolicy = decision.deniedBy === 'identity' ? 'no identity-based policy' : 'no resource-based policy';
  return `${head} because ${noPolicy} allows the ${facts.action} action`;
}
