/**
 * The `Marker`/`NextMarker` of every List* operation: the one module that writes and parses
 * them. A marker is opaque to clients and meaningless to stores, which page by position.
 *
 * Format: base64url (no padding) of a JSON object `{"v":1,"l":<list>, …position}`, where `v`
 * is the format version and `l` names the listing, so a marker from one list is refused by
 * another. Positions:
 *
 * | list                | fields                                   | resumes after                                          |
 * |---------------------|------------------------------------------|--------------------------------------------------------|
 * | `keys`              | `c` creation ms, `k` key id              | that key, in (creationDate, keyId) order               |
 * | `aliases`           | `a` alias name                           | that alias, in name order                              |
 * | `offset`            | `o` index                                | the first `o` items of a list held whole               |
 * | `principals`        | `a` principal ARN                        | that principal, in ARN order                           |
 * | `grants`            | `s` scope, `c` creation ms, `g` grant id | that grant, in (creationDate, grantId) order           |
 * | `approval-requests` | `c` creation ms, `r` request id          | that request, newest first: (createdAt, id) descending |
 * | `audit-events`      | `t` time ms, `n` node id, `s` sequence   | that event, newest first (see AuditEventListPosition)  |
 * | `certificates`      | `t` issue time ms, `n` serial (hex)      | that certificate, in (issuedAt, serial) order (src/ca) |
 * | `key-stores`        | `c` creation ms, `k` custom key store id | that store, in (creationDate, id) order                |
 *
 * Grant markers also name which grant list they page (`s`, see grant-rules.ts: one key's
 * grants, or one retiring principal's), so a marker from one such list is refused by another.
 *
 * Anything else — bad alphabet, too long, not JSON, another version or list, fields of the
 * wrong type — is InvalidMarkerException, AWS's exception for a bad Marker.
 */
import { KmsError } from './errors.js';
import type { PrincipalListPosition } from './authorization/repository.js';
import type { GrantListPosition } from './grants/grant.js';
import type { KeyStoreListPosition } from './key-stores/ports.js';
import type { AliasListPosition, AuditEventListPosition, KeyListPosition } from './ports.js';
import type { ApprovalRequestListPosition } from './quorum/quorum.js';

/** What a private CA (src/ca) issued is listed in (issuedAt, serial) order; a listing resumes after this one. */
export interface CertificateListPosition {
  issuedAt: Date;
  /** Lower-case hex, as the CA stores serials. */
  serial: string;
}

/** The position each kind of listing resumes from. */
export interface ListPositions {
  keys: KeyListPosition;
  aliases: AliasListPosition;
  offset: number;
  principals: PrincipalListPosition;
  /** `scope` names the list (see grant-rules.ts); readers compare it with their own. */
  grants: GrantListPosition & { scope: string };
  'approval-requests': ApprovalRequestListPosition;
  'audit-events': AuditEventListPosition;
  certificates: CertificateListPosition;
  'key-stores': KeyStoreListPosition;
}

export type ListName = keyof ListPositions;

const MARKER_VERSION = 1;
/** AWS's limit on the Marker member. */
const MAX_MARKER_LENGTH = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

type Fields = Record<string, unknown>;

const CODECS: { [L in ListName]: { write(position: ListPositions[L]): Fields; read(fields: Fields): ListPositions[L] | undefined } } = {
  keys: {
    write: (p) => ({ c: p.creationDate.getTime(), k: p.keyId }),
    read: (f) => (Number.isSafeInteger(f.c) && typeof f.k === 'string' ? { creationDate: new Date(f.c as number), keyId: f.k } : undefined),
  },
  aliases: {
    write: (p) => ({ a: p.aliasName }),
    read: (f) => (typeof f.a === 'string' ? { aliasName: f.a } : undefined),
  },
  offset: {
    write: (o) => ({ o }),
    read: (f) => (Number.isSafeInteger(f.o) && (f.o as number) >= 0 ? (f.o as number) : undefined),
  },
  principals: {
    write: (p) => ({ a: p.arn }),
    read: (f) => (typeof f.a === 'string' ? { arn: f.a } : undefined),
  },
  grants: {
    write: (p) => ({ s: p.scope, c: p.creationDate.getTime(), g: p.grantId }),
    read: (f) =>
      typeof f.s === 'string' && Number.isSafeInteger(f.c) && typeof f.g === 'string'
        ? { scope: f.s, creationDate: new Date(f.c as number), grantId: f.g }
        : undefined,
  },
  'approval-requests': {
    write: (p) => ({ c: p.createdAt.getTime(), r: p.requestId }),
    read: (f) => (Number.isSafeInteger(f.c) && typeof f.r === 'string' ? { createdAt: new Date(f.c as number), requestId: f.r } : undefined),
  },
  'audit-events': {
    write: (p) => ({ t: p.time.getTime(), n: p.nodeId, s: p.sequence }),
    read: (f) =>
      Number.isSafeInteger(f.t) && typeof f.n === 'string' && Number.isSafeInteger(f.s)
        ? { time: new Date(f.t as number), nodeId: f.n, sequence: f.s as number }
        : undefined,
  },
  'key-stores': {
    write: (p) => ({ c: p.creationDate.getTime(), k: p.customKeyStoreId }),
    read: (f) => (Number.isSafeInteger(f.c) && typeof f.k === 'string' ? { creationDate: new Date(f.c as number), customKeyStoreId: f.k } : undefined),
  },
  certificates: {
    write: (p) => ({ t: p.issuedAt.getTime(), n: p.serial }),
    read: (f) => (Number.isSafeInteger(f.t) && typeof f.n === 'string' && /^[0-9a-f]{1,64}$/.test(f.n) ? { issuedAt: new Date(f.t as number), serial: f.n } : undefined),
  },
};

/** The marker that resumes `list` after `position`. */
export function writeListMarker<L extends ListName>(list: L, position: ListPositions[L]): string {
  const marker = Buffer.from(JSON.stringify({ v: MARKER_VERSION, l: list, ...CODECS[list].write(position) }), 'utf8').toString('base64url');
  // Alias names are at most 256 characters, principal ARNs shorter, grant scopes digests: no
  // marker we write comes near the limit.
  if (marker.length > MAX_MARKER_LENGTH) throw new RangeError('list marker too long');
  return marker;
}

/** The position a marker of `list` names; InvalidMarkerException for anything else. */
export function readListMarker<L extends ListName>(list: L, marker: string): ListPositions[L] {
  // Node's base64url decoder skips characters outside the alphabet instead of failing.
  if (marker.length === 0 || marker.length > MAX_MARKER_LENGTH || !BASE64URL.test(marker)) throw invalidMarker();
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8'));
  } catch {
    throw invalidMarker();
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidMarker();
  const fields = doc as Fields;
  if (fields.v !== MARKER_VERSION || fields.l !== list) throw invalidMarker();
  const position = CODECS[list].read(fields);
  if (position === undefined) throw invalidMarker();
  return position;
}

/** AWS's exception for a Marker that is not one a listing issued. */
export function invalidMarker(): KmsError {
  return new KmsError('InvalidMarkerException', 'The request contains a Marker that is not valid. Use the NextMarker value from the previous response.');
}
