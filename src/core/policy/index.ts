/**
 * The IAM policy language for hsmkms: parsing and validation of key and identity policies, the
 * evaluator (pure, bounded work), AWS KMS's rule for combining key and identity policies, and
 * the catalogue of condition keys.
 *
 * Typical use by an authorizer, per request:
 * ```ts
 * const facts: RequestFacts = { principalArn, principalAccountId, partition, action: 'kms:Decrypt',
 *   resourceArn: key.arn, context: { 'kms:CallerAccount': account, 'kms:EncryptionContext:tenant': 'a' } };
 * const decision = evaluateKeyAccess(
 *   { keyPolicy: { name: 'key-policy', policy: compilePolicy(key.policy) },
 *     identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: compilePolicy(p.document, { kind: 'identity' }) })) },
 *   facts);
 * if (decision.decision !== 'Allow') throw new KmsError('AccessDeniedException', accessDeniedMessage(facts, decision));
 * ```
 */
export {
  accessDeniedMessage,
  combineKeyAccess,
  evaluateIdentityOnly,
  evaluateKeyAccess,
  evaluatePolicy,
  MAX_EVALUATION_STEPS,
  type AccessDecision,
  type ConditionTrace,
  type Decision,
  type EvaluateOptions,
  type NamedPolicy,
  type PolicyResult,
  type PrincipalMatch,
  type RequestFacts,
  type StatementTrace,
} from './evaluate.js';
export { compileDocument, compilePolicy, CompiledPolicyCache, type CompiledPolicy } from './compile.js';
export {
  MAX_POLICY_BYTES,
  parsePolicyDocument,
  POLICY_VERSIONS,
  type ParseOptions,
  type PolicyDocument,
  type PolicyKind,
  type PolicyStatement,
} from './policy-document.js';
export { CONDITION_KEY_TYPES, conditionKeyInfo, type ConditionKeyInfo, type ConditionKeyType } from './condition-keys.js';
export { isConditionOperator, parseConditionOperator, type ConditionOperator } from './condition-operators.js';
export type { ConditionContext, ContextValue } from './context.js';
export { compileGlob, globMatch, wildcardMatch, WorkMeter, WorkLimitExceeded, type Glob } from './glob.js';
export { defaultKeyPolicy } from './default-policy.js';
export { checkPolicyLockout } from './lockout-check.js';
