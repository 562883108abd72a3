/** HsmKms.DeletePrincipalPolicy: removes a named identity policy from a principal. */
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { targetPrincipal } from './admin-rules.js';
import { deletePrincipalPolicy as remove } from './principals.js';

export const deletePrincipalPolicy: Operation = {
  name: 'DeletePrincipalPolicy',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const policyName = requiredString(input, 'PolicyName', { min: 1, max: 128 });
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:DeletePrincipalPolicy', context: {} });
    await remove(deps.store, principal, policyName);
    return {};
  },
};
