/**
 * Table shapes as Kysely sees them. Column types are chosen so that every dialect stores them
 * the same way: dates as integer milliseconds since the epoch (exact round trip, no time-zone
 * or precision surprises), booleans as 0/1 integers, binary as the dialect's blob type.
 *
 * Integer columns are typed `number | string | bigint` on read because PostgreSQL drivers
 * return `bigint` columns as strings; the row mappers normalise with `Number()`.
 */
import type { ColumnType } from 'kysely';
import type { KeyStoreDatabase } from './key-store-schema.js';
import type { MultiRegionDatabase } from './multi-region-schema.js';

/** Milliseconds since the epoch: written as a number, read as whatever the driver returns. */
export type Millis = ColumnType<number | string | bigint, number, number>;
export type NullableMillis = ColumnType<number | string | bigint | null, number | null, number | null>;
export type Int = ColumnType<number | string | bigint, number, number>;
export type NullableInt = ColumnType<number | string | bigint | null, number | null, number | null>;
export type Binary = Uint8Array;

export interface KeysTable {
  key_id: string;
  arn: string;
  account_id: string;
  description: string;
  key_spec: string;
  key_usage: string;
  origin: string;
  key_state: string;
  creation_date: Millis;
  deletion_date: NullableMillis;
  pending_deletion_window_in_days: NullableInt;
  expiration_model: string | null;
  valid_to: NullableMillis;
  policy: string;
  rotation_enabled: Int;
  rotation_period_in_days: NullableInt;
  next_rotation_date: NullableMillis;
  current_version_id: string | null;
  /** Added by migration 0002-authorization. */
  owner_arn: string | null;
  revision: Int;
}

export interface KeyVersionsTable {
  key_id: string;
  version_id: string;
  created_at: Millis;
  wrapped_material: Binary;
  public_key: Uint8Array | null;
  rotation_type: string | null;
}

/** Migration 0016: what is recorded about each imported key material (core/model.ts ImportedKeyMaterial). */
export interface ImportedKeyMaterialsTable {
  key_id: string;
  version_id: string;
  description: string | null;
  expiration_model: string | null;
  valid_to: NullableMillis;
  pending_rotation: Int;
  imported_at: Millis;
  rotated_at: NullableMillis;
  rotation_type: string | null;
}

export interface AliasesTable {
  alias_name: string;
  alias_arn: string;
  target_key_id: string;
  creation_date: Millis;
  last_updated_date: Millis;
}

export interface KeyTagsTable {
  key_id: string;
  tag_key: string;
  tag_value: string;
}

export interface PrincipalsTable {
  arn: string;
  name: string;
  account_id: string;
  created_at: Millis;
  /** IAM-style unique id, `AIDA…`; null for the root (migration 0011). */
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One row per role a principal holds; a table rather than a column so roles (and later identity policies) can be queried and extended without rewriting principals. */
export interface PrincipalRolesTable {
  principal_arn: string;
  role: string;
}

export interface AccessKeysTable {
  access_key_id: string;
  principal_arn: string;
  sealed_secret: Binary;
  created_at: Millis;
  status: string;
}

/** A named IAM identity policy on a principal (migration 0002-authorization). */
export interface PrincipalPoliciesTable {
  principal_arn: string;
  policy_name: string;
  document: string;
  created_at: Millis;
  updated_at: Millis;
}

/** Tags on a principal, for `aws:PrincipalTag/…` conditions (migration 0002-authorization). */
export interface PrincipalTagsTable {
  principal_arn: string;
  tag_key: string;
  tag_value: string;
}

export interface ImportTokensTable {
  token_id: string;
  key_id: string;
  wrapping_key_spec: string;
  wrapping_algorithm: string;
  wrapped_private_key: Binary;
  public_key: Binary;
  created_at: Millis;
  expires_at: Millis;
}

/** A token object to destroy once no key references it (migration 0024; core/model.ts MaterialDestruction). */
export interface MaterialDestructionsTable {
  key_id: string;
  version_id: string;
  key_spec: string;
  wrapped_material: Binary;
  created_at: Millis;
  not_before: Millis;
  attempts: Int;
}

/** A grant on a key (migration 0003-grants-and-quorum). */
export interface GrantsTable {
  grant_id: string;
  key_id: string;
  name: string | null;
  grantee_principal: string;
  retiring_principal: string | null;
  issuing_account: string;
  creator_principal: string;
  /** `,Op1,Op2,` so that one LIKE finds grants listing an operation. */
  operations: string;
  /** JSON maps of the grant's constraint, if any. */
  context_equals: string | null;
  context_subset: string | null;
  creation_date: Millis;
}

/** A quorum rule (migration 0003-grants-and-quorum). */
export interface QuorumRulesTable {
  rule_id: string;
  action: string;
  key_id: string | null;
  tagged_keys_only: Int;
  min_approvals: Int;
  /** JSON array of principal ARNs. */
  approvers: string;
  created_at: Millis;
  updated_at: Millis;
}

/** A quorum approval request (migration 0003-grants-and-quorum). */
export interface ApprovalRequestsTable {
  request_id: string;
  requester_arn: string;
  operation: string;
  action: string;
  key_arn: string | null;
  parameters_hash: string;
  parameters: string;
  /** Comma-separated key ARNs the hash binds (migration 0020; null before it, or for a key-less call). */
  hashed_keys: string | null;
  /** JSON array of the member names the hash covers that `parameters` shows cut or not at all (migration 0020). */
  withheld_parameters: string | null;
  /** JSON array of `{ ruleId, minApprovals, approvers }`. */
  requirements: string;
  status: string;
  created_at: Millis;
  expires_at: Millis;
  decided_at: NullableMillis;
}

/** One approver's vote on a request (migration 0003-grants-and-quorum). */
export interface ApprovalVotesTable {
  request_id: string;
  approver_arn: string;
  decision: string;
  voted_at: Millis;
}

/** Who may see an approval request besides its requester: every approver its rules named (migration 0011). */
export interface ApprovalRequestApproversTable {
  request_id: string;
  approver_arn: string;
}

/** The whole metadata database. */
export interface MetadataDatabase extends KeyStoreDatabase, MultiRegionDatabase {
  keys: KeysTable;
  key_versions: KeyVersionsTable;
  imported_key_materials: ImportedKeyMaterialsTable;
  aliases: AliasesTable;
  key_tags: KeyTagsTable;
  principals: PrincipalsTable;
  principal_roles: PrincipalRolesTable;
  access_keys: AccessKeysTable;
  import_tokens: ImportTokensTable;
  grants: GrantsTable;
  quorum_rules: QuorumRulesTable;
  approval_requests: ApprovalRequestsTable;
  approval_votes: ApprovalVotesTable;
  approval_request_approvers: ApprovalRequestApproversTable;
  principal_policies: PrincipalPoliciesTable;
  principal_tags: PrincipalTagsTable;
  material_destructions: MaterialDestructionsTable;
}
