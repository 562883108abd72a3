/**
 * What the grant operations share: CreateGrant's principals and name validated with AWS's
 * limits and wording (its operations and constraints: src/core/grants/grant-request.ts; which
 * operations each kind of key supports: grant.ts there), whether a grant fits its key, grant ids,
 * the GrantListEntry shape, and the markers of the two grant lists.
 */
import { createHash } from 'node:crypto';
import { KmsError } from '../errors.js';
import {
  CONTEXT_GRANT_OPERATIONS,
  GRANT_MANAGEMENT_OPERATIONS,
  grantOperationsFor,
  type GrantConstraints,
  type GrantListPosition,
  type GrantOperation,
  type GrantRecord,
} from '../grants/index.js';
import { invalidMarker, readListMarker, writeListMarker } from '../list-marker.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { Page } from '../ports.js';
import { epochSeconds, optionalString, requiredString } from '../validation.js';
import { pagingFields } from './key-updates.js';

/** AWS's pattern for grantee and retiring principals (a plain character class: linear). */
const PRINCIPAL_PATTERN = /^[\w+=,.@:/-]+$/;
/** AWS's pattern for grant names. */
const NAME_PATTERN = /^[a-zA-Z0-9:/_-]+$/;

/**
 * The operations and constraint must suit the key: only operations it supports, and
 * constraints only on symmetric encryption keys, with operations that carry an encryption
 * context (plus CreateGrant, RetireGrant, DescribeKey, which the constraint does not restrict).
 */
export function checkGrantFitsKey(key: KeyRecord, operations: readonly GrantOperation[], constraints: GrantConstraints | undefined): void {
  const supported = grantOperationsFor(key);
  const unsupported = operations.filter((op) => !supported.has(op));
  if (unsupported.length > 0)
    throw new KmsError(
      'ValidationException',
      `Grant operations ${unsupported.join(', ')} are not supported by ${key.arn} (${key.keySpec}, ${key.keyUsage}).`,
    );
  if (!constraints) return;
  if (key.keySpec !== 'SYMMETRIC_DEFAULT')
    throw new KmsError('ValidationException', `Encryption context grant constraints are supported only on symmetric encryption KMS keys; ${key.arn} is ${key.keySpec}.`);
  const unconstrainable = operations.filter((op) => !CONTEXT_GRANT_OPERATIONS.has(op) && !GRANT_MANAGEMENT_OPERATIONS.includes(op));
  if (unconstrainable.length > 0)
    throw new KmsError('ValidationException', `Grant constraints cannot be used with ${unconstrainable.join(', ')}.`);
}

/**
 * A grantee or retiring principal: an IAM principal ARN (the account root, a user or a role).
 * A user of this account must exist, so that a typing error does not produce a grant nobody can use.
 */
export async function parseGrantPrincipal(deps: Pick<KmsDeps, 'store' | 'settings'>, input: JsonObject, field: string, required: boolean): Promise<string | undefined> {
  const value = grantPrincipalText(input, field, required);
  if (value === undefined) return undefined;
  const parts = value.split(':');
  const resource = parts.slice(5).join(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'iam' || parts[3] !== '' || !/^\d{12}$/.test(parts[4] ?? '') || !/^(root|user\/.+|role\/.+)$/.test(resource))
    throw new KmsError('InvalidArnException', `${field} ${value} is not a valid IAM principal ARN (arn:${deps.settings.partition}:iam::ACCOUNT:root, :user/NAME or :role/NAME).`);
  if (parts[4] === deps.settings.accountId && resource.startsWith('user/') && !(await deps.store.getPrincipal(value)))
    throw new KmsError('ValidationException', `${field} ${value} is not a principal of this account. Create it first (hsmkms principal create).`);
  return value;
}

/**
 * A principal member as AWS's model types it (`PrincipalIdType`: 1–256 characters of
 * `^[\w+=,.@:/-]+$`): CreateGrant's GranteePrincipal and RetiringPrincipal, ListGrants'
 * GranteePrincipal, ListRetirableGrants' RetiringPrincipal. Only the shape; see
 * {@link parseGrantPrincipal} for what CreateGrant also requires.
 */
export function grantPrincipalText(input: JsonObject, field: string, required: true): string;
export function grantPrincipalText(input: JsonObject, field: string, required: boolean): string | undefined;
export function grantPrincipalText(input: JsonObject, field: string, required: boolean): string | undefined {
  const rule = { min: 1, max: 256, pattern: PRINCIPAL_PATTERN };
  return required ? requiredString(input, field, rule) : optionalString(input, field, rule);
}

/** `Name`: a retry handle (AWS: 1–256 characters of letters, digits and `:/_-`). */
export function parseGrantName(input: JsonObject): string | undefined {
  return optionalString(input, 'Name', { min: 1, max: 256, pattern: NAME_PATTERN });
}

/** `GrantId`: present, at most 128 characters (AWS's limit); whether it names a grant is checked against the store. */
export function parseGrantId(input: JsonObject, required: boolean): string | undefined {
  return required ? requiredString(input, 'GrantId', { min: 1, max: 128 }) : optionalString(input, 'GrantId', { min: 1, max: 128 });
}

/** The condition keys CreateGrant sets for policies to test. */
export function grantConditions(
  operations: readonly GrantOperation[],
  granteePrincipal: string,
  retiringPrincipal: string | undefined,
  constraints: GrantConstraints | undefined,
): Record<string, string | string[]> {
  const conditions: Record<string, string | string[]> = {
    'kms:GrantOperations': [...operations],
    'kms:GranteePrincipal': granteePrincipal,
    // No AWS service calls hsmkms on a principal's behalf.
    'kms:GrantIsForAWSResource': 'false',
  };
  if (retiringPrincipal !== undefined) conditions['kms:RetiringPrincipal'] = retiringPrincipal;
  const types = [
    ...(constraints?.encryptionContextEquals ? ['EncryptionContextEquals'] : []),
    ...(constraints?.encryptionContextSubset ? ['EncryptionContextSubset'] : []),
  ];
  if (types.length > 0) conditions['kms:GrantConstraintType'] = types.length === 1 ? types[0]! : types;
  return conditions;
}

/** Whether two grants have the same properties (what makes a CreateGrant with a Name a retry). */
export function sameGrantProperties(a: Omit<GrantRecord, 'grantId' | 'creationDate' | 'creatorPrincipal'>, b: GrantRecord): boolean {
  return (
    a.keyId === b.keyId &&
    a.name === b.name &&
    a.granteePrincipal === b.granteePrincipal &&
    a.retiringPrincipal === b.retiringPrincipal &&
    a.operations.join(',') === b.operations.join(',') &&
    sameMap(a.constraints?.encryptionContextEquals, b.constraints?.encryptionContextEquals) &&
    sameMap(a.constraints?.encryptionContextSubset, b.constraints?.encryptionContextSubset)
  );
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/** AWS `GrantListEntry`. */
export function grantListEntry(grant: GrantRecord, keyArn: string): JsonObject {
  const entry: JsonObject = {
    KeyId: keyArn,
    GrantId: grant.grantId,
    Name: grant.name ?? '',
    CreationDate: epochSeconds(grant.creationDate),
    GranteePrincipal: grant.granteePrincipal,
    IssuingAccount: grant.issuingAccount,
    Operations: [...grant.operations],
  };
  if (grant.retiringPrincipal !== undefined) entry.RetiringPrincipal = grant.retiringPrincipal;
  if (grant.constraints) {
    const constraints: JsonObject = {};
    if (grant.constraints.encryptionContextEquals) constraints.EncryptionContextEquals = { ...grant.constraints.encryptionContextEquals };
    if (grant.constraints.encryptionContextSubset) constraints.EncryptionContextSubset = { ...grant.constraints.encryptionContextSubset };
    entry.Constraints = constraints;
  }
  return entry;
}

/** A grant list: one key's grants (ListGrants) or one retiring principal's (ListRetirableGrants). */
export type GrantList = { keyId: string } | { retiringPrincipal: string };

/**
 * The scope a grants marker carries, so that a marker from one grant list is refused by
 * another. A digest: the marker stays short whatever the principal, and does not spell it out.
 */
function grantListScope(list: GrantList): string {
  const name = 'keyId' in list ? `key\u0000${list.keyId}` : `retiring\u0000${list.retiringPrincipal}`;
  return createHash('sha256').update(name, 'utf8').digest('base64url').slice(0, 22);
}

/** Where a Marker of `list` resumes; InvalidMarkerException for anything else, a marker of another grant list included. */
export function readGrantsMarker(list: GrantList, marker: string): GrantListPosition {
  const { scope, ...after } = readListMarker('grants', marker);
  if (scope !== grantListScope(list)) throw invalidMarker();
  return after;
}

/** `Truncated`/`NextMarker` for a page of `list`. */
export function grantsPagingFields(list: GrantList, page: Page<GrantRecord>): JsonObject {
  const last = page.items.at(-1);
  return pagingFields(
    page.more && last ? writeListMarker('grants', { scope: grantListScope(list), creationDate: last.creationDate, grantId: last.grantId }) : undefined,
  );
}
