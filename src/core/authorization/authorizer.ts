/**
 * The authorizer every operation calls (`deps.authorizer`), bound by the dispatcher to one call
 * so that it knows who is calling, how (source address, TLS), the operation and its raw input.
 *
 * Per call it reads the caller's current roles, identity policies, tags and access-key status
 * once (one store round trip, served from the never-stale SQLite read cache), so a role, policy
 * or key change made by any worker or by the CLI applies from the next request. Each
 * `authorize()` then decides (decide.ts), enforces quorum after an Allow, and notes the outcome
 * for the call's audit event (`additionalEventData.authorization`).
 */
import { KmsError } from '../errors.js';
import { checkGrantTokens, grantOperationFor } from '../grants/index.js';
import { enforceQuorum, guardingRules } from '../quorum/index.js';
import type { KmsDeps } from '../operation.js';
import type { AuthorizationRequest, AuthorizedCall, AuthorizerBinder, CallAuthorization } from '../ports.js';
import { rootArn } from '../admin/principals.js';
import { GRANT_TOKENS_RULE, optionalStringList } from '../validation.js';
import { decide, subjectState, type AuthorizationOutcome, type SubjectState } from './decide.js';

/** One entry of `additionalEventData.authorization`. */
export interface AuditedDecision {
  action: string;
  resource: string;
  decision: AuthorizationOutcome['decision'];
  decidedBy: AuthorizationOutcome['decidedBy'];
  /** Statements that decided, as `policy-name:Sid` (or `policy-name:#index`). */
  statements?: string[];
  grantId?: string;
}

/** The deps the authorizer reads; the full KmsDeps at run time. */
export type AuthorizerDeps = Pick<KmsDeps, 'store' | 'backend' | 'settings' | 'clock'>;

/** The binder `src/app.ts` gives the dispatcher. */
export function createAuthorizerBinder(deps: AuthorizerDeps): AuthorizerBinder {
  const root = rootArn(deps.settings);
  return (call) => bindCall(deps, root, call);
}

function bindCall(deps: AuthorizerDeps, root: string, call: AuthorizedCall): CallAuthorization {
  const decisions: AuditedDecision[] = [];
  const keyArns = new Set<string>();
  let quorum: Record<string, unknown> | undefined;
  let subject: Promise<SubjectState> | undefined;
  let tokensChecked = false;
  let quorumSatisfied = false;
  /** The rules the call's used approval request covered. */
  let approvedRuleIds: ReadonlySet<string> = new Set();
  const now = deps.clock.now();
  let grantTokens: string[] | undefined;
  /** The call's `GrantTokens`, read only for actions whose operations take them (see {@link takesGrantTokens}). */
  const tokensFor = (action: string): string[] =>
    takesGrantTokens(action) ? (grantTokens ??= optionalStringList(call.input, 'GrantTokens', GRANT_TOKENS_RULE) ?? []) : [];

  async function loadSubject(arn: string): Promise<SubjectState> {
    const state = await deps.store.getPrincipalAuthorization(arn, call.ctx.accessKeyId);
    // A principal or access key deleted since the credential cache resolved it: the request is
    // no longer signed by anyone this service knows.
    if (!state || (call.ctx.accessKeyId !== undefined && state.accessKeyStatus !== 'Active'))
      throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    return subjectState(root, state);
  }

  const currentSubject = (): Promise<SubjectState> => (subject ??= loadSubject(call.ctx.principal.arn));

  async function requireCovered(requests: readonly AuthorizationRequest[]): Promise<void> {
    for (const request of requests)
      for (const rule of await guardingRules(deps, { action: request.action, key: request.key, input: call.input, callerArn: call.ctx.principal.arn }))
        if (!approvedRuleIds.has(rule.ruleId))
          throw new KmsError(
            'AccessDeniedException',
            `${request.action} is guarded by quorum rule ${rule.ruleId}, which the approval request this call used did not cover: the operation authorized its actions one at a time (a defect); nothing was done.`,
          );
  }

  const authorizer = {
    async authorize(requested: AuthorizationRequest | readonly AuthorizationRequest[]): Promise<void> {
      const requests: readonly AuthorizationRequest[] = isList(requested) ? requested : [requested];
      const caller = await currentSubject();
      for (const request of requests) {
        if (request.key) keyArns.add(request.key.arn);
        const tokens = tokensFor(request.action);
        // AWS reports a garbage grant token even when a policy allows the call.
        if (!tokensChecked && tokens.length > 0) {
          tokensChecked = true;
          await checkGrantTokens(deps, tokens);
        }
        const outcome = await decide(deps, {
          subject: caller,
          action: request.action,
          key: request.key,
          requestContext: request.context,
          call: { ctx: call.ctx, input: call.input, now },
          grantTokens: tokens,
          retiring: request.grant,
        });
        decisions.push(audited(outcome));
        if (outcome.decision !== 'Allow') throw new KmsError('AccessDeniedException', outcome.message ?? 'Access denied.');
      }
      const [first, ...rest] = requests;
      if (!first) return;

      // Quorum once per call: one approval covers the rules guarding any action of the call, so
      // an operation that takes several actions authorizes them together (see Authorizer). An
      // action authorized after the approval was used must not bring a rule it did not cover:
      // that would pass the rule with nobody's approval.
      if (quorumSatisfied) return requireCovered(requests);
      // The in-process CA's own signatures: quorum was enforced on the operation that asked
      // for them, or they are automatic (see in-process-calls.ts). Said so in the audit record.
      const exemption = call.ctx.inProcess?.quorumExemption;
      if (exemption !== undefined) {
        quorum = { exempt: exemption, ...(call.ctx.inProcess?.onBehalfOf ? { onBehalfOf: call.ctx.inProcess.onBehalfOf } : {}) };
        return;
      }
      try {
        const approved = await enforceQuorum(deps, {
          caller: caller.record,
          action: first.action,
          key: first.key,
          also: rest.map((r) => ({ action: r.action, key: r.key })),
          operation: call.operation,
          input: call.input,
          now,
        });
        if (approved) {
          quorumSatisfied = true;
          approvedRuleIds = new Set(approved.ruleIds);
          quorum = { ruleIds: approved.ruleIds, approvalRequestId: approved.approvalRequestId };
        }
      } catch (error) {
        if (error instanceof KmsError && error.type === 'QuorumApprovalRequiredException')
          quorum = { status: 'ApprovalRequired', approvalRequestId: error.fields?.ApprovalRequestId };
        throw error;
      }
    },
  };

  return {
    authorizer,
    async principal() {
      return (await currentSubject()).record;
    },
    keyArns() {
      return [...keyArns];
    },
    auditData() {
      if (decisions.length === 0 && !quorum) return undefined;
      return { authorization: decisions, ...(quorum ? { quorum } : {}) };
    },
  };
}

function audited(outcome: AuthorizationOutcome): AuditedDecision {
  const entry: AuditedDecision = {
    action: outcome.action,
    resource: outcome.resource,
    decision: outcome.decision,
    decidedBy: outcome.decidedBy,
  };
  const decisive = outcome.policies?.decisive ?? [];
  if (decisive.length > 0 && (outcome.decidedBy === 'key-policy' || outcome.decidedBy === 'identity-policy'))
    entry.statements = decisive.map((s) => `${s.policy}:${s.sid ? s.sid : `#${s.index}`}`);
  if (outcome.grantId !== undefined) entry.grantId = outcome.grantId;
  return entry;
}

/**
 * Whether the operation behind `action` takes `GrantTokens`: every action a grant can allow but
 * RetireGrant. Any other operation ignores the member, as AWS ignores members an operation does
 * not define, so a caller cannot make the HSM open tokens no operation limited (before: up to
 * ~100,000 in one 1 MiB request to e.g. DisableKey) nor fail a call with a token it never needed.
 * The tokens are read with AWS's limits here too, whatever the operation checked before.
 */
function takesGrantTokens(action: string): boolean {
  return action !== 'kms:RetireGrant' && grantOperationFor(action) !== undefined;
}

function isList(requested: AuthorizationRequest | readonly AuthorizationRequest[]): requested is readonly AuthorizationRequest[] {
  return Array.isArray(requested);
}

/**
 * For tools that run operations in-process as the operator (the offline CLI on the data
 * directory): allows everything. Never used by the server.
 */
export const operatorAuthorizer = {
  async authorize(): Promise<void> {},
};
