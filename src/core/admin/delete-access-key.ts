/** HsmKms.DeleteAccessKey: the key stops working on its next request, in every worker. */
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { targetPrincipal } from './admin-rules.js';
import { deleteAccessKey as remove } from './principals.js';

export const deleteAccessKey: Operation = {
  name: 'DeleteAccessKey',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const accessKeyId = requiredString(input, 'AccessKeyId', { min: 16, max: 128 });
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:DeleteAccessKey', context: {} });
    await remove(deps.store, principal, accessKeyId);
    return {};
  },
};
