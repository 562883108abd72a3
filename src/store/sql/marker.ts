/**
 * Pagination markers: base64url of a small JSON document naming the list it belongs to and the
 * last sort key returned. Opaque to clients; anything that does not decode to a marker for
 * the same list is rejected with InvalidMarkerException (AWS's exception for a bad Marker).
 */
import { KmsError } from '../../core/errors.js';

/** The position after the last key of a ListKeys page: keys sort by (creationDate, keyId). */
export interface KeysPosition {
  creationMs: number;
  keyId: string;
}

/** The position after the last alias of a ListAliases page: aliases sort by name. */
export interface AliasesPosition {
  aliasName: string;
}

const MARKER_VERSION = 1;

export function encodeKeysMarker(position: KeysPosition): string {
  return encode({ v: MARKER_VERSION, l: 'keys', c: position.creationMs, k: position.keyId });
}

export function decodeKeysMarker(marker: string): KeysPosition {
  const doc = decode(marker);
  if (doc.l !== 'keys' || !Number.isSafeInteger(doc.c) || typeof doc.k !== 'string') throw invalidMarker();
  return { creationMs: doc.c as number, keyId: doc.k };
}

export function encodeAliasesMarker(position: AliasesPosition): string {
  return encode({ v: MARKER_VERSION, l: 'aliases', a: position.aliasName });
}

export function decodeAliasesMarker(marker: string): AliasesPosition {
  const doc = decode(marker);
  if (doc.l !== 'aliases' || typeof doc.a !== 'string') throw invalidMarker();
  return { aliasName: doc.a };
}

/** The position after the last principal of a ListPrincipals page: principals sort by ARN. */
export interface PrincipalsPosition {
  arn: string;
}

export function encodePrincipalsMarker(position: PrincipalsPosition): string {
  return encode({ v: MARKER_VERSION, l: 'principals', a: position.arn });
}

export function decodePrincipalsMarker(marker: string): PrincipalsPosition {
  const doc = decode(marker);
  if (doc.l !== 'principals' || typeof doc.a !== 'string') throw invalidMarker();
  return { arn: doc.a };
}

/** The position after the last grant of a page: grants sort by (creationDate, grantId). */
export interface GrantsPosition {
  creationMs: number;
  grantId: string;
}

/**
 * Markers for grant lists name the list (`scope`: the key for ListGrants, the retiring
 * principal for ListRetirableGrants), so a marker from another list is refused.
 */
export function encodeGrantsMarker(scope: string, position: GrantsPosition): string {
  return encode({ v: MARKER_VERSION, l: 'grants', s: scope, c: position.creationMs, g: position.grantId });
}

export function decodeGrantsMarker(scope: string, marker: string): GrantsPosition {
  const doc = decode(marker);
  if (doc.l !== 'grants' || doc.s !== scope || !Number.isSafeInteger(doc.c) || typeof doc.g !== 'string') throw invalidMarker();
  return { creationMs: doc.c as number, grantId: doc.g };
}

/** The position after the last approval request of a page: newest first, by (createdAt, requestId). */
export interface ApprovalRequestsPosition {
  createdMs: number;
  requestId: string;
}

export function encodeApprovalRequestsMarker(position: ApprovalRequestsPosition): string {
  return encode({ v: MARKER_VERSION, l: 'approval-requests', c: position.createdMs, r: position.requestId });
}

export function decodeApprovalRequestsMarker(marker: string): ApprovalRequestsPosition {
  const doc = decode(marker);
  if (doc.l !== 'approval-requests' || !Number.isSafeInteger(doc.c) || typeof doc.r !== 'string') throw invalidMarker();
  return { createdMs: doc.c as number, requestId: doc.r };
}

function encode(doc: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(doc), 'utf8').toString('base64url');
}

function decode(marker: string): Record<string, unknown> {
  // base64url decoding in Node silently skips invalid characters; check the alphabet first.
  if (typeof marker !== 'string' || marker.length === 0 || marker.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(marker)) {
    throw invalidMarker();
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8'));
  } catch {
    throw invalidMarker();
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidMarker();
  const record = doc as Record<string, unknown>;
  if (record.v !== MARKER_VERSION) throw invalidMarker();
  return record;
}

function invalidMarker(): KmsError {
  return new KmsError('InvalidMarkerException', 'The request contains a Marker that is not valid. Use the NextMarker value from the previous response.');
}
