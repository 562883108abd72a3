/**
 * HsmKms.ListApprovalRequests: approval requests newest first, those the caller may see
 * (requested, or may approve; every request for CryptoOfficers, Auditors and the root).
 * `Status` filters: Pending, Approved, Rejected, Consumed or Expired.
 */
import { rootArn } from '../../admin/principals.js';
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
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListApprovalRequests', context: {} });
    const now = deps.clock.now();
    const page = await deps.store.listApprovalRequests({ now, limit, ...(status ? { status } : {}), ...(marker !== undefined ? { marker } : {}) });
    const root = rootArn(deps.settings);
    // Filtered after paging: a page may hold fewer than Limit entries and still be Truncated.
    const visible = page.items.filter((r) => maySee(r, ctx.principal, root));
    return { ApprovalRequests: visible.map((r) => approvalRequestView(r, now)), ...pagingFields(page.nextMarker) };
  },
};
