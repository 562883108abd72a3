/**
 * The `HsmKms.*` quorum operations, one file each, registered with `operationRegistry` in
 * `src/app.ts` (see src/core/registry.ts).
 */
import type { Operation } from '../../operation.js';
import { approveRequest } from './approve-request.js';
import { deleteQuorumRule } from './delete-quorum-rule.js';
import { getApprovalRequest } from './get-approval-request.js';
import { listApprovalRequests } from './list-approval-requests.js';
import { listQuorumRules } from './list-quorum-rules.js';
import { putQuorumRule } from './put-quorum-rule.js';
import { rejectRequest } from './reject-request.js';

export const quorumOperations: readonly Operation[] = [
  putQuorumRule,
  listQuorumRules,
  deleteQuorumRule,
  listApprovalRequests,
  getApprovalRequest,
  approveRequest,
  rejectRequest,
];
