/**
 * M-of-N quorum, CloudHSM style: the vocabulary and the repository port. A quorum rule says
 * that calls of an action (optionally on one key, or on keys tagged `hsmkms:quorum=<rule id>`)
 * need MinApprovals distinct approvers' consent; an approval request is one guarded call
 * waiting for, or holding, that consent.
 */
import type { MetadataRepository, Page } from '../ports.js';

/** Tag key that binds quorum rules to a key: the value lists rule ids, comma-separated. */
export const QUORUM_TAG_KEY = 'hsmkms:quorum';

/**
 * Actions quorum never guards: approving must never itself wait for approval (a rule for
 * `hsmkms:*` would otherwise lock every request out), nor may asking who one is.
 */
export const NEVER_GUARDED: ReadonlySet<string> = new Set([
  'hsmkms:ApproveRequest',
  'hsmkms:RejectRequest',
  'hsmkms:ListApprovalRequests',
  'hsmkms:GetApprovalRequest',
  'hsmkms:GetCallerIdentity',
]);

/**
 * Actions that give a principal credentials: an access key, or (CreatePrincipal) a principal, with
 * its first key, under an ARN a rule may still name. Every rule that names that principal an
 * approver guards them (see `ruleGuards`), unless the principal asks for itself: otherwise one
 * CryptoOfficer could mint an approver's key and vote as that approver, an M-of-N quorum
 * decided by one. The principal is the one the call's `UserName` names.
 */
export const GIVES_CREDENTIALS: ReadonlySet<string> = new Set(['hsmkms:CreateAccessKey', 'hsmkms:CreatePrincipal']);

/** Rules a service may hold; every guarded call reads them all, so they stay few. */
export const MAX_QUORUM_RULES = 500;
/** Pending approval requests one principal may have open at a time (each guarded call it repeats with other parameters opens one). */
export const MAX_PENDING_APPROVAL_REQUESTS = 100;
/** Approvers one rule may list, and the largest MinApprovals. */
export const MAX_APPROVERS = 32;

export interface QuorumRuleRecord {
  ruleId: string;
  /** An IAM-style action (`kms:ScheduleKeyDeletion`, `hsmkms:CreatePrincipal`), `*` wildcards allowed. */
  action: string;
  /** Restricts the rule to one key. */
  keyId?: string | undefined;
  /** Applies only to keys tagged `hsmkms:quorum=<ruleId>` (and, with `keyId`, to that key too). */
  taggedKeysOnly: boolean;
  minApprovals: number;
  /** Principal ARNs, sorted, without duplicates. */
  approvers: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type ApprovalRequestStatus = 'Pending' | 'Approved' | 'Rejected' | 'Consumed';

/** What one rule asked of a request, frozen when the request was opened. */
export interface ApprovalRequirement {
  ruleId: string;
  minApprovals: number;
  approvers: string[];
}

export interface ApprovalVote {
  approverArn: string;
  decision: 'Approve' | 'Reject';
  at: Date;
}

export interface ApprovalRequestRecord {
  requestId: string;
  requesterArn: string;
  /** Registry key of the guarded operation (`ScheduleKeyDeletion`, `HsmKms.CreatePrincipal`). */
  operation: string;
  action: string;
  keyArn?: string | undefined;
  /** SHA-256 (hex) of the canonical call, see `call-hash.ts`. */
  parametersHash: string;
  /** The parameters as approvers see them (secrets and blobs left out), JSON text. */
  parameters: string;
  /** The key ARNs the hash binds, comma-separated as `call-hash.ts` hashes them (absent for a key-less call, or a request opened before they were kept). */
  hashedKeys?: string | undefined;
  /** Top-level members the hash covers that {@link parameters} shows cut short or not at all (secrets, binary values, long values). */
  withheldParameters?: string[] | undefined;
  requirements: ApprovalRequirement[];
  status: ApprovalRequestStatus;
  createdAt: Date;
  expiresAt: Date;
  /** When it became Approved, Rejected or Consumed. */
  decidedAt?: Date | undefined;
  votes: ApprovalVote[];
}

/** Approval requests are listed newest first, by (createdAt, requestId) descending; a listing resumes after this one. */
export interface ApprovalRequestListPosition {
  createdAt: Date;
  requestId: string;
}

/**
 * Quorum rules and approval requests. {@link MetadataRepository} extends this port, so every
 * method may run inside a transaction; the SQL stores implement it in `src/store/sql/quorum-sql.ts`.
 */
export interface QuorumRepository {
  /** Every rule, oldest first (at most {@link MAX_QUORUM_RULES}). */
  listQuorumRules(): Promise<QuorumRuleRecord[]>;
  getQuorumRule(ruleId: string): Promise<QuorumRuleRecord | undefined>;
  /** Inserts or replaces the rule with this id. */
  putQuorumRule(rule: QuorumRuleRecord): Promise<void>;
  deleteQuorumRule(ruleId: string): Promise<boolean>;

  /** Inserts a request (its votes must be empty); throws StoreError `conflict` on a duplicate id. */
  insertApprovalRequest(request: ApprovalRequestRecord): Promise<void>;
  getApprovalRequest(requestId: string): Promise<ApprovalRequestRecord | undefined>;
  /**
   * Inside a transaction: holds the request until the transaction ends, so that transactions
   * deciding on one request (votes) take turns and each reads the votes of those before it.
   */
  lockApprovalRequest(requestId: string): Promise<void>;
  /**
   * The newest Pending or Approved, unexpired request for this caller and call, if any: what a
   * retried guarded call finds.
   */
  findOpenApprovalRequest(requesterArn: string, operation: string, parametersHash: string, now: Date): Promise<ApprovalRequestRecord | undefined>;
  /**
   * Up to `limit` requests, newest first, after `after`; `status` filters, `Expired` meaning
   * Pending or Approved past expiry; `visibleTo` keeps only the requests that principal made or
   * was named an approver of (in the query, so that every page is full while there are more).
   */
  listApprovalRequests(options: {
    status?: ApprovalRequestStatus | 'Expired';
    now: Date;
    limit: number;
    after?: ApprovalRequestListPosition;
    visibleTo?: string;
  }): Promise<Page<ApprovalRequestRecord>>;
  /** How many Pending, unexpired requests `requesterArn` opened, counting no further than `cap`. */
  countPendingApprovalRequests(requesterArn: string, now: Date, cap: number): Promise<number>;
  /** Records a vote; false when this approver already voted on the request. */
  addApprovalVote(requestId: string, vote: ApprovalVote): Promise<boolean>;
  /**
   * Moves a request from `from` to `to` if it is still in `from` and unexpired at `now`;
   * false otherwise. Consuming an approval is `Approved → Consumed`: exactly one caller wins.
   */
  transitionApprovalRequest(requestId: string, from: ApprovalRequestStatus, to: ApprovalRequestStatus, now: Date): Promise<boolean>;
  /** Deletes every request (decided or not) whose expiry is at or before `before`; returns how many. */
  deleteApprovalRequestsExpiredBefore(before: Date): Promise<number>;
}
