/** HsmKms.RejectRequest: an approver refuses (or the requester withdraws) a request; it is closed for good. */
import type { Operation } from '../../operation.js';
import { parseApprovalRequestId } from './quorum-rules.js';
import { vote } from './vote.js';

export const rejectRequest: Operation = {
  name: 'RejectRequest',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const requestId = parseApprovalRequestId(input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:RejectRequest', context: {} });
    return vote(deps, ctx.principal, requestId, 'Reject');
  },
};
