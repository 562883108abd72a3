/**
 * One vote on an approval request, in one transaction: checks that the request is still open
 * and that the caller may vote, records the vote (one per approver: approvers are distinct by
 * construction), and moves the request to Approved or Rejected when the vote decides it.
 */
import { rootArn } from '../../admin/principals.js';
import { KmsError } from '../../errors.js';
import { lockNames } from '../../locks.js';
import type { PrincipalRecord } from '../../model.js';
import type { JsonObject, KmsDeps } from '../../operation.js';
import { isFullyApproved } from '../index.js';
import type { ApprovalVote } from '../quorum.js';
import { approvalRequestNotFound, approvalRequestView, maySee, visibleStatus } from './quorum-rules.js';

export async function vote(deps: KmsDeps, caller: PrincipalRecord, requestId: string, decision: ApprovalVote['decision']): Promise<JsonObject> {
  const now = deps.clock.now();
  const request = await deps.store.transaction(async (tx) => {
    // The voter's name first: DeletePrincipal holds it while it removes the principal's votes,
    // so a vote either lands before the deletion (and is removed with the others) or finds the
    // voter gone. Otherwise a vote racing the deletion could stay and decide the request.
    await tx.holdLock(lockNames.principal(caller.arn));
    if (caller.arn !== rootArn(deps.settings) && !(await tx.getPrincipal(caller.arn)))
      throw new KmsError('AccessDeniedException', `User: ${caller.arn} no longer exists and may not vote on ${requestId}.`);
    // Votes on one request take turns: two at once would each miss the other's vote (a
    // 2-of-N request never approved, a rejection left behind an approval).
    await tx.lockApprovalRequest(requestId);
    const current = await tx.getApprovalRequest(requestId);
    if (!current || !maySee(current, caller, rootArn(deps.settings))) throw approvalRequestNotFound(requestId);
    const status = visibleStatus(current, now);
    const isApprover = current.requirements.some((r) => r.approvers.includes(caller.arn));
    const isRequester = caller.arn === current.requesterArn;
    if (decision === 'Approve' && isRequester)
      throw new KmsError('AccessDeniedException', `User: ${caller.arn} requested ${requestId} and may not approve it: approvals must come from other principals.`);
    // The requester may withdraw (reject) its own request.
    if (!isApprover && !(decision === 'Reject' && isRequester))
      throw new KmsError('AccessDeniedException', `User: ${caller.arn} is not an approver of ${requestId}.`);
    const previous = current.votes.find((v) => v.approverArn === caller.arn);
    if (previous?.decision === decision && (status === 'Pending' || status === 'Approved' || status === 'Rejected')) return current;
    if (status !== 'Pending' && !(status === 'Approved' && decision === 'Reject'))
      throw new KmsError('KMSInvalidStateException', `Approval request ${requestId} is ${status}; it can no longer be ${decision === 'Approve' ? 'approved' : 'rejected'}.`);
    if (previous) throw new KmsError('KMSInvalidStateException', `User: ${caller.arn} already voted ${previous.decision} on ${requestId}.`);
    if (!(await tx.addApprovalVote(requestId, { approverArn: caller.arn, decision, at: now })))
      throw new KmsError('KMSInvalidStateException', `User: ${caller.arn} already voted on ${requestId}.`);
    const updated = (await tx.getApprovalRequest(requestId))!;
    if (decision === 'Reject') await tx.transitionApprovalRequest(requestId, updated.status, 'Rejected', now);
    else if (updated.status === 'Pending' && isFullyApproved(updated)) await tx.transitionApprovalRequest(requestId, 'Pending', 'Approved', now);
    return (await tx.getApprovalRequest(requestId))!;
  });
  return { ApprovalRequest: approvalRequestView(request, now) };
}
