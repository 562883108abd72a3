/**
 * What authorization needs from the metadata store, beyond keys: principals' current roles,
 * identity policies and tags, access keys, and key ownership. {@link MetadataRepository}
 * extends this port; the SQL stores implement it in `src/store/sql/authorization-sql.ts`.
 */
import type { PrincipalRecord, PrincipalRole, Tag } from '../model.js';
import type { Page } from '../ports.js';

/** A named IAM identity policy attached to a principal. */
export interface IdentityPolicyRecord {
  principalArn: string;
  policyName: string;
  /** The policy document as the caller wrote it (JSON text). */
  document: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Everything about a principal that an authorization decision reads, as of now. */
export interface PrincipalAuthorization {
  /** With the roles it holds now (the SigV4 credential cache may hold older ones). */
  principal: PrincipalRecord;
  /** Name and document only (dates are not needed to decide). */
  policies: Array<Pick<IdentityPolicyRecord, 'policyName' | 'document'>>;
  tags: Tag[];
  /**
   * The status of the access key asked about, when it exists and belongs to this principal;
   * absent otherwise (deleted since it was cached, or never this principal's).
   */
  accessKeyStatus?: 'Active' | 'Inactive' | undefined;
}

/** Principals are listed in ARN order; a listing resumes after this one. */
export interface PrincipalListPosition {
  arn: string;
}

/** An access key without its secret. */
export interface AccessKeySummary {
  accessKeyId: string;
  status: 'Active' | 'Inactive';
  createdAt: Date;
}

export interface AuthorizationRepository {
  /**
   * One principal's roles, identity policies, tags and (when `accessKeyId` is given) that access
   * key's status, read together: one round trip, per request. undefined for an unknown principal.
   */
  getPrincipalAuthorization(arn: string, accessKeyId?: string): Promise<PrincipalAuthorization | undefined>;
  /** Up to `limit` principals in ARN order, after `after` when given. */
  listPrincipalsPage(limit: number, after?: PrincipalListPosition): Promise<Page<PrincipalRecord>>;
  /** The number of principals, or of those holding `role`. */
  countPrincipals(role?: PrincipalRole): Promise<number>;
  /** Replaces the principal's roles; false when there is no such principal. */
  setPrincipalRoles(arn: string, roles: PrincipalRole[]): Promise<boolean>;
  /**
   * Deletes the principal with its access keys, roles, policies and tags, clears it as the
   * owner of its keys (bumping their revision), rejects (at `now`) the approval requests it
   * opened that are still open and removes its votes on open requests; false when there is no
   * such principal.
   */
  deletePrincipal(arn: string, now?: Date): Promise<boolean>;
  /** Adds or replaces the policy of that name. */
  putPrincipalPolicy(policy: IdentityPolicyRecord): Promise<void>;
  /** false when the principal has no policy of that name. */
  deletePrincipalPolicy(arn: string, policyName: string): Promise<boolean>;
  /** In name order. */
  listPrincipalPolicies(arn: string): Promise<IdentityPolicyRecord[]>;
  /** Adds or overwrites. */
  putPrincipalTags(arn: string, tags: Tag[]): Promise<void>;
  deletePrincipalTags(arn: string, tagKeys: string[]): Promise<void>;
  /** Oldest first. */
  listAccessKeys(principalArn: string): Promise<AccessKeySummary[]>;
  /** false when there is no such access key. */
  deleteAccessKey(accessKeyId: string): Promise<boolean>;
  /** How many keys name this principal as their owner. */
  countKeysOwnedBy(arn: string): Promise<number>;
}
