/**
 * Every failed call is shown the same way: the AWS exception name the service sent (`__type`)
 * and its message, as the SDK and the HsmKms client both surface them.
 */
import { HsmKmsError } from '../../../src/client/hsmkms-protocol.js';

export interface ApiFailure {
  /** The AWS exception name, e.g. `AccessDeniedException`. */
  name: string;
  message: string;
  /** Set when the call waits for quorum approval (QuorumApprovalRequiredException). */
  approvalRequestId?: string;
}

const APPROVAL_REQUEST_ID = /\bar-[0-9a-f]{32}\b/;

export function toFailure(error: unknown): ApiFailure {
  if (error instanceof HsmKmsError) {
    const id = error.fields.ApprovalRequestId;
    return { name: error.name, message: error.message, ...(typeof id === 'string' ? { approvalRequestId: id } : {}) };
  }
  if (error instanceof Error) {
    // fetch rejects with a TypeError when the service cannot be reached at all.
    if (error.name === 'TypeError' || error.name === 'TimeoutError' || error.name === 'AbortError')
      return { name: 'NetworkError', message: `The service did not answer (${error.message}). Check that hsmkms is running, then try again.` };
    const fields = error as Error & { ApprovalRequestId?: unknown };
    const id =
      typeof fields.ApprovalRequestId === 'string'
        ? fields.ApprovalRequestId
        : error.name === 'QuorumApprovalRequiredException'
          ? APPROVAL_REQUEST_ID.exec(error.message)?.[0]
          : undefined;
    return { name: error.name || 'Error', message: error.message || error.name, ...(id ? { approvalRequestId: id } : {}) };
  }
  return { name: 'Error', message: String(error) };
}
