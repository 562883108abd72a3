/** HsmKms.GetApprovalRequest: one request, for its requester, its approvers and quorum overseers. */
import { rootArn } from '../../admin/principals.js';
import type { Operation } from '../../operation.js';
import { approvalRequestNotFound, approvalRequestView, maySee, parseApprovalRequestId } from './quorum-rules.js';

export const getApprovalRequest: Operation = {
  name: 'GetApprovalRequest',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const requestId = parseApprovalRequestId(input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:GetApprovalRequest', context: {} });
    const request = await deps.store.getApprovalRequest(requestId);
    // Someone who may not see a request learns nothing about it, not even that it exists.
    if (!request || !maySee(request, ctx.principal, rootArn(deps.settings))) throw approvalRequestNotFound(requestId);
    return { ApprovalRequest: approvalRequestView(request, deps.clock.now()) };
  },
};
