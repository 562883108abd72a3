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

/** The position after the last store of a DescribeCustomKeyStores page: by (creationDate, id). */
export interface KeyStoresPosition {
  creationMs: number;
  customKeyStoreId: string;
}

export function encodeKeyStoresMarker(position: KeyStoresPosition): string {
  return encode({ v: MARKER_VERSION, l: 'key-stores', c: position.creationMs, k: position.customKeyStoreId });
}

export function decodeKeyStoresMarker(marker: string): KeyStoresPosition {
  const doc = decode(marker);
  if (doc.l !== 'key-stores' || !Number.isSafeInteger(doc.c) || typeof doc.k !== 'string') throw invalidMarker();
  return { creationMs: doc.c as number, customKeyStoreId: doc.k };
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
