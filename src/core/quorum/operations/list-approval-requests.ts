/**
 * HsmKms.ListApprovalRequests: approval requests newest first, those the caller may see
 * (requested, or may approve; every request for CryptoOfficers, Auditors and the root).
 * `Status` filters: Pending, Approved, Rejected, Consumed or Expired.
 */
import { rootArn } from '../../admin/principals.js';
import { readListMarker, writeListMarker } from '../../list-marker.js';
import type { Operation } from '../../operation.js';
import { optionalEnum } from '../../validation.js';
import { pagingFields, parsePaging } from '../../operations/key-updates.js';
import { approvalRequestView, seesAll } from './quorum-rules.js';

const STATUSES = ['Pending', 'Approved', 'Rejected', 'Consumed', 'Expired'] as const;

export const listApprovalRequests: Operation = {
  name: 'ListApprovalRequests',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const status = optionalEnum(input, 'Status', STATUSES);
    const { limit, marker } = parsePaging(input, 100, 50);
    const after = marker === undefined ? undefined : readListMarker('approval-requests', marker);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListApprovalRequests', context: {} });
    const now = deps.clock.now();
    // Those who oversee quorum see every request; anyone else, in the query, only the requests
    // they made or may approve, so that a page is full whenever more follow.
    const visibleTo = seesAll(ctx.principal, rootArn(deps.settings)) ? undefined : ctx.principal.arn;
    const page = await deps.store.listApprovalRequests({
      now,
      limit,
      ...(status ? { status } : {}),
      ...(after !== undefined ? { after } : {}),
      ...(visibleTo !== undefined ? { visibleTo } : {}),
    });
    const last = page.items.at(-1);
    return {
      ApprovalRequests: page.items.map((r) => approvalRequestView(r, now)),
      ...pagingFields(page.more && last ? writeListMarker('approval-requests', { createdAt: last.createdAt, requestId: last.requestId }) : undefined),
    };
  },
};
