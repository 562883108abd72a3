/**
 * Grants as the authorizer sees them: does some grant on this key let this principal do this,
 * under this encryption context? The authorizer (src/core/authorization/) calls
 * {@link findAllowingGrant} after roles and policies; the grant operations
 * (src/core/operations/*-grant*.ts) manage the records.
 *
 * Rules, from the KMS developer guide ("Grants in AWS KMS", "Creating grants"):
 * - A grant allows exactly the grant operations it lists, on its one key, to its grantee. No
 *   operation implies another (GenerateDataKey does not allow Encrypt, ReEncryptFrom and
 *   ReEncryptTo are separate); grants never deny.
 * - Constraints (`EncryptionContextEquals`: the request's context is exactly the map;
 *   `EncryptionContextSubset`: the map's pairs are all in the request's context) apply to the
 *   cryptographic operations; DescribeKey and RetireGrant ignore them.
 * - CreateGrant through a grant is limited: the new grant may list only operations the parent
 *   grant lists, and its constraint must be at least as strict as the parent's.
 * - A grant token (`GrantTokens`) names a grant and is honoured at once; it does not widen the
 *   grant (same grantee, same key, and the grant must still exist).
 */
import { KmsError } from '../errors.js';
import type { KeyBackend, MetadataRepository } from '../ports.js';
import { GRANT_OPERATIONS, type GrantConstraints, type GrantOperation, type GrantRecord } from './grant.js';
import { readGrantToken } from './grant-token.js';
import type { RequestedGrant } from './grant-request.js';
import { callerText } from '../caller-text.js';

export * from './grant.js';
export { invalidGrantToken, readGrantToken, writeGrantToken } from './grant-token.js';
export { parseRequestedGrant, type RequestedGrant } from './grant-request.js';

/** What grant lookups need: the store (with its `grants` repository) and the backend (tokens). */
export interface GrantDeps {
  store: MetadataRepository;
  backend: Pick<KeyBackend, 'unsealSecret'>;
}


export interface GrantLookup {
  keyId: string;
  keyArn: string;
  /** The caller's ARN. */
  granteePrincipalArn: string;
  /** A grant operation name, e.g. `Decrypt` (see {@link grantOperationFor}). */
  operation: string;
  /** The request's encryption context (absent: empty). */
  encryptionContext?: Record<string, string> | undefined;
  /** `GrantTokens` of the request, as sent. */
  grantTokens: readonly string[];
  now: Date;
  /** Required when `operation` is `CreateGrant`: the grant being created (else no grant allows it). */
  requestedGrant?: RequestedGrant | undefined;
}

/** Grants examined per store query while looking for one that allows a request. */
const LOOKUP_PAGE = 1000;

/**
 * The grant operation an IAM action corresponds to (`kms:Decrypt` → `Decrypt`), or undefined
 * for actions no grant can allow (`kms:PutKeyPolicy`, `kms:ListGrants`, …).
 */
export function grantOperationFor(action: string): GrantOperation | undefined {
  if (!action.startsWith('kms:')) return undefined;
  const name = action.slice(4);
  return (GRANT_OPERATIONS as readonly string[]).includes(name) ? (name as GrantOperation) : undefined;
}

/**
 * The grant ids the request's `GrantTokens` name. Throws InvalidGrantTokenException for any
 * token this service did not write; call it for every request that carries tokens, also when
 * a policy already allows the request, so that a bad token is reported as AWS does.
 */
export async function checkGrantTokens(deps: Pick<GrantDeps, 'backend'>, grantTokens: readonly string[]): Promise<Array<{ grantId: string; keyId: string }>> {
  const claims = [];
  for (const token of grantTokens) claims.push(await readGrantToken(deps.backend, token));
  return claims;
}

/**
 * The first grant that allows the request, stored or named by one of its grant tokens; undefined
 * when none does. Throws InvalidGrantTokenException for a token that is not valid.
 */
export async function findAllowingGrant(deps: GrantDeps, lookup: GrantLookup): Promise<{ grantId: string } | undefined> {
  const operation = (GRANT_OPERATIONS as readonly string[]).includes(lookup.operation) ? (lookup.operation as GrantOperation) : undefined;
  const named = await checkGrantTokens(deps, lookup.grantTokens);
  if (!operation) return undefined;

  // Tokens first: they name the grant the caller means.
  for (const claim of named) {
    if (claim.keyId !== lookup.keyId) continue;
    const grant = await deps.store.getGrant(claim.grantId);
    if (grant && grantAllows(grant, lookup, operation)) return { grantId: grant.grantId };
  }
  let after: string | undefined;
  for (;;) {
    const page = await deps.store.listGrantsForGrantee(lookup.keyId, lookup.granteePrincipalArn, operation, LOOKUP_PAGE, after);
    for (const grant of page) if (grantAllows(grant, lookup, operation)) return { grantId: grant.grantId };
    if (page.length < LOOKUP_PAGE) return undefined;
    after = page.at(-1)!.grantId;
  }
}

/** Whether `grant` allows `operation` for the lookup's caller, key and encryption context. */
export function grantAllows(grant: GrantRecord, lookup: Omit<GrantLookup, 'grantTokens' | 'now'>, operation: GrantOperation): boolean {
  if (grant.keyId !== lookup.keyId || grant.granteePrincipal !== lookup.granteePrincipalArn) return false;
  if (!grant.operations.includes(operation)) return false;
  if (operation === 'CreateGrant') return lookup.requestedGrant !== undefined && mayCreateFrom(grant, lookup.requestedGrant);
  if (operation === 'DescribeKey' || operation === 'RetireGrant') return true;
  return constraintsHold(grant.constraints, lookup.encryptionContext ?? {});
}

/** Whether a request's encryption context satisfies a grant's constraints. */
export function constraintsHold(constraints: GrantConstraints | undefined, context: Record<string, string>): boolean {
  if (!constraints) return true;
  const { encryptionContextEquals: equals, encryptionContextSubset: subset } = constraints;
  if (equals && !sameMap(equals, context)) return false;
  if (subset && !isSubset(subset, context)) return false;
  return true;
}

/**
 * CreateGrant through a grant: only the parent's operations, and a constraint at least as
 * strict — under an Equals parent, the same Equals map; under a Subset parent, a Subset or
 * Equals map that contains the parent's pairs.
 */
export function mayCreateFrom(parent: GrantRecord, child: RequestedGrant): boolean {
  if (!child.operations.every((op) => parent.operations.includes(op))) return false;
  const p = parent.constraints;
  if (!p) return true;
  const c = child.constraints;
  if (p.encryptionContextEquals) return c?.encryptionContextEquals !== undefined && sameMap(p.encryptionContextEquals, c.encryptionContextEquals);
  if (p.encryptionContextSubset) {
    const childMap = c?.encryptionContextEquals ?? c?.encryptionContextSubset;
    return childMap !== undefined && isSubset(p.encryptionContextSubset, childMap);
  }
  return true;
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

function isSubset(part: Record<string, string>, whole: Record<string, string>): boolean {
  return Object.keys(part).every((k) => Object.hasOwn(whole, k) && whole[k] === part[k]);
}

/** AWS's error for a grant id that names no grant of the key. */
export function invalidGrantId(grantId: string): KmsError {
  return new KmsError('InvalidGrantIdException', `Grant ID ${callerText(grantId, 128)} is not valid.`);
}
