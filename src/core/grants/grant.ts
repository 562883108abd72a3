/**
 * Grants: the KMS vocabulary for them, and the rules that decide whether a grant allows a
 * request. Pure functions over records; the store and the token codec live beside this file.
 */
import type { MetadataRepository, Page } from '../ports.js';
import type { GrantOperation } from './grant-operations.js';

export {
  CONTEXT_GRANT_OPERATIONS,
  GRANT_MANAGEMENT_OPERATIONS,
  GRANT_OPERATIONS,
  grantOperationsFor,
  type GrantOperation,
} from './grant-operations.js';

/** AWS `GrantConstraints`: at most one of the two is set. */
export interface GrantConstraints {
  /** The request's encryption context must equal this map exactly. */
  encryptionContextEquals?: Record<string, string> | undefined;
  /** Every pair here must be in the request's encryption context (which may have more). */
  encryptionContextSubset?: Record<string, string> | undefined;
}

/** One grant as the store keeps it. */
export interface GrantRecord {
  /** 64 hex characters, as AWS's grant ids. */
  grantId: string;
  keyId: string;
  /** AWS `Name`: a client's retry handle; unique per key only together with identical parameters. */
  name?: string | undefined;
  granteePrincipal: string;
  retiringPrincipal?: string | undefined;
  /** `arn:aws:iam::<account>:root` of the account the grant was created in. */
  issuingAccount: string;
  /** The caller who created it (shown by ListGrants nowhere, kept for the audit and RetireGrant). */
  creatorPrincipal: string;
  /** Sorted, without duplicates. */
  operations: GrantOperation[];
  constraints?: GrantConstraints | undefined;
  creationDate: Date;
}

/** Grants a key may have (AWS's quota, "grants per KMS key"). */
export const MAX_GRANTS_PER_KEY = 50_000;

/** ListGrants and ListRetirableGrants list grants in (creationDate, grantId) order; a listing resumes after this one. */
export interface GrantListPosition {
  creationDate: Date;
  grantId: string;
}

/**
 * Where grants are kept. {@link MetadataRepository} extends this port, so every method may run
 * inside a metadata-store transaction; the SQL stores implement it in `src/store/sql/grants-sql.ts`.
 */
export interface GrantRepository {
  getGrant(grantId: string): Promise<GrantRecord | undefined>;
  /** Inserts; throws StoreError `conflict` on a duplicate grant id. */
  insertGrant(grant: GrantRecord): Promise<void>;
  /** Deletes one grant; false when there was none with that id. */
  deleteGrant(grantId: string): Promise<boolean>;
  /** Grants of `keyId` named `name` (several may share a name when their parameters differ). */
  findGrantsByName(keyId: string, name: string): Promise<GrantRecord[]>;
  /**
   * The authorizer's lookup: grants on a key for one grantee that list `operation`, in grant-id
   * order after `afterGrantId`, at most `limit`.
   */
  listGrantsForGrantee(keyId: string, granteePrincipal: string, operation: GrantOperation, limit: number, afterGrantId?: string): Promise<GrantRecord[]>;
  /** ListGrants: up to `limit` of the key's grants in creation order, after `after`; optionally one grant id or one grantee. */
  listGrants(options: { keyId: string; grantId?: string; granteePrincipal?: string; limit: number; after?: GrantListPosition }): Promise<Page<GrantRecord>>;
  /** ListRetirableGrants: up to `limit` grants naming this retiring principal, over all keys, in creation order after `after`. */
  listRetirableGrants(options: { retiringPrincipal: string; limit: number; after?: GrantListPosition }): Promise<Page<GrantRecord>>;
  countGrants(keyId: string): Promise<number>;
  deleteGrantsForKey(keyId: string): Promise<void>;
}
