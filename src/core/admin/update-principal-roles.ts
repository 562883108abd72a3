/** HsmKms.UpdatePrincipalRoles: replaces a principal's roles; effective on its next request. */
import { KmsError } from '../errors.js';
import type { Operation } from '../operation.js';
import { parseRoles, targetPrincipal } from './admin-rules.js';

export const updatePrincipalRoles: Operation = {
  name: 'UpdatePrincipalRoles',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const roles = parseRoles(input, true)!;
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:UpdatePrincipalRoles', context: { 'hsmkms:Roles': roles } });
    if (!(await deps.store.setPrincipalRoles(principal.arn, roles)))
      throw new KmsError('NotFoundException', `The principal with name ${principal.name} cannot be found.`);
    return {};
  },
};
