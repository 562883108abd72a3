/**
 * HsmKms.ApproveRequest: one approver's consent. Once every rule of the request has its
 * MinApprovals from distinct approvers (never the requester), the requester's same call
 * succeeds once.
 */
import type { Operation } from '../../operation.js';
import { parseApprovalRequestId } from './quorum-rules.js';
import { vote } from './vote.js';

export const approveRequest: Operation = {
  name: 'ApproveRequest',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const requestId = parseApprovalRequestId(input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ApproveRequest', context: {} });
    return vote(deps, ctx.principal, requestId, 'Approve');
  },
};
