/**
 * AWS's policy lockout safety check: refuse a key policy that would stop the caller from
 * ever changing the key policy again, unless the caller bypasses the check on purpose.
 */
import { KmsError } from '../errors.js';
import { principalMatches, statementCoversAction, type CallerIdentity } from './matching.js';
import type { PolicyDocument } from './policy-document.js';

const ACTION = 'kms:PutKeyPolicy';

/**
 * Throws MalformedPolicyDocumentException when no Allow statement lets the caller call
 * PutKeyPolicy, or an unconditional Deny forbids it. Conditions on an Allow are given the
 * benefit of the doubt: the check cannot know a future request's context.
 */
export function checkPolicyLockout(policy: PolicyDocument, caller: CallerIdentity): void {
  const applies = (s: PolicyDocument['statements'][number]): boolean =>
    s.principal !== undefined && principalMatches(s.principal, caller) && statementCoversAction(s, ACTION);
  const denied = policy.statements.some((s) => s.effect === 'Deny' && s.condition === undefined && applies(s));
  const allowed = policy.statements.some((s) => s.effect === 'Allow' && applies(s));
  if (denied || !allowed)
    throw new KmsError(
      'MalformedPolicyDocumentException',
      'The new key policy will not allow you to update the key policy in the future.',
    );
}
