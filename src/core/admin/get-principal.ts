/** HsmKms.GetPrincipal: roles, tags, identity policies, access key ids and owned key count (never secrets). */
import type { Operation } from '../operation.js';
import { principalView, targetPrincipal } from './admin-rules.js';
import { principalDetails } from './principals.js';

export const getPrincipal: Operation = {
  name: 'GetPrincipal',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:GetPrincipal', context: {} });
    return { Principal: principalView(await principalDetails(deps.store, principal)) };
  },
};
