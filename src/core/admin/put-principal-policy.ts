/** HsmKms.PutPrincipalPolicy: adds or replaces a named IAM identity policy on a principal. */
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { targetPrincipal } from './admin-rules.js';
import { MAX_POLICY_DOCUMENT_CHARS, putPrincipalPolicy as put } from './principals.js';

export const putPrincipalPolicy: Operation = {
  name: 'PutPrincipalPolicy',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const policyName = requiredString(input, 'PolicyName', { min: 1, max: 128 });
    // Longer than the quota still gets the quota's own error (LimitExceededException) below.
    const document = requiredString(input, 'PolicyDocument', { min: 1, max: MAX_POLICY_DOCUMENT_CHARS * 16 });
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:PutPrincipalPolicy', context: {} });
    await put(deps.store, principal, policyName, document);
    return {};
  },
};
