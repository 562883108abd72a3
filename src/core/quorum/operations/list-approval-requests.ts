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
import { approvalRequestView, maySee } from './quorum-rules.js';

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
    const page = await deps.store.listApprovalRequests({ now, limit, ...(status ? { status } : {}), ...(after !== undefined ? { after } : {}) });
    const root = rootArn(deps.settings);
    // Filtered after paging: a page may hold fewer than Limit entries and still be Truncated
    // (the next page resumes after the last request read, seen or not).
    const visible = page.items.filter((r) => maySee(r, ctx.principal, root));
    const last = page.items.at(-1);
    return {
      ApprovalRequests: visible.map((r) => approvalRequestView(r, now)),
      ...pagingFields(page.more && last ? writeListMarker('approval-requests', { createdAt: last.createdAt, requestId: last.requestId }) : undefined),
    };
  },
};
