/**
 * Who may retire a grant, with AWS KMS's rules (developer guide, "Retiring and revoking grants"):
 *
 * - The grant decides, not the key policy: its retiring principal, its grantee when the grant
 *   lists RetireGrant, and the account that issued it may retire it without any permission.
 * - `kms:RetireGrant` is not effective in a key policy: neither its Allow nor its Deny counts.
 * - In identity policies it is: a Deny stops even the principals the grant names, and an Allow
 *   lets the issuing account delegate retiring to a principal of its own.
 *
 * hsmkms adds its own two rules, as for every key action: the role gate (an Auditor changes
 * nothing) and ownership (a CryptoUser may do everything with the keys it created). The caller
 * (authorizer.ts) applies quorum after an Allow, so a quorum rule can guard RetireGrant too.
 */
import type { GrantRecord } from '../grants/index.js';
import type { KeyRecord } from '../model.js';
import { accessDeniedMessage, evaluateIdentityOnly, type RequestFacts } from '../policy/index.js';
import type { AuthorizationOutcome, SubjectState } from './decide.js';

type Base = Pick<AuthorizationOutcome, 'action' | 'resource' | 'role' | 'context' | 'keyOwner'>;

export function decideRetireGrant(
  subject: SubjectState,
  grant: GrantRecord | undefined,
  facts: RequestFacts,
  options: { explain: boolean },
  base: Base,
  key: KeyRecord,
): AuthorizationOutcome {
  const policies = evaluateIdentityOnly(subject.identityPolicies, facts, options);
  const withPolicies = { ...base, policies };
  if (policies.decision === 'ExplicitDeny')
    return { ...withPolicies, decision: 'ExplicitDeny', decidedBy: 'identity-policy', message: accessDeniedMessage(facts, policies) };

  // The account that issues every grant of this account may retire any of them (also when no
  // grant is named, as ExplainAuthorization asks).
  if (subject.isRoot) return { ...withPolicies, decision: 'Allow', decidedBy: 'root', ...(grant ? { grantId: grant.grantId } : {}) };
  if (grant && namedByGrant(subject, grant)) return { ...withPolicies, decision: 'Allow', decidedBy: 'grant', grantId: grant.grantId };
  // Delegation: an identity policy of a principal in the account that issued the grant.
  if (policies.decision === 'Allow' && (!grant || grant.issuingAccount.endsWith(`::${subject.accountId}:root`)))
    return { ...withPolicies, decision: 'Allow', decidedBy: 'identity-policy' };
  if (key.ownerArn === subject.arn && subject.roles.includes('CryptoUser')) return { ...withPolicies, decision: 'Allow', decidedBy: 'owner' };

  return { ...withPolicies, decision: 'ImplicitDeny', decidedBy: 'identity-policy', message: accessDeniedMessage(facts, policies) };
}

/** The principals a grant itself lets retire it. */
function namedByGrant(subject: SubjectState, grant: GrantRecord): boolean {
  return (
    subject.arn === grant.retiringPrincipal ||
    (subject.arn === grant.granteePrincipal && grant.operations.includes('RetireGrant')) ||
    subject.arn === grant.issuingAccount
  );
}
