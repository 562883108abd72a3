/**
 * Shared steps of the key-management operations: optimistic read-modify-write of a key record,
 * and paging over lists the store returns whole.
 */
import { randomBytes } from 'node:crypto';
import { KmsError } from '../errors.js';
import { keyArn } from '../key-resolver.js';
import { invalidMarker, readListMarker, writeListMarker } from '../list-marker.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { MetadataRepository } from '../ports.js';
import { optionalInteger, optionalString } from '../validation.js';

const ATTEMPTS = 5;

/** Thrown inside a transaction to roll it back when another writer got there first. */
class RevisionConflict extends Error {}

/**
 * Re-reads the key inside a transaction, applies `change` (which may throw a KmsError after
 * re-checking state, and may write related rows through `tx`) and writes the key with the next
 * revision. When a concurrent writer changed the key meanwhile, the transaction is rolled back
 * and `change` re-applied to the fresh record, a few times at most.
 */
export async function updateKeyRecord(
  deps: KmsDeps,
  keyId: string,
  change: (current: KeyRecord, tx: MetadataRepository) => KeyRecord | Promise<KeyRecord>,
): Promise<KeyRecord> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      return await deps.store.transaction(async (tx) => {
        const current = await tx.getKey(keyId);
        if (!current) throw new KmsError('NotFoundException', `Key '${keyArn(deps.settings, keyId)}' does not exist`);
        const next = { ...(await change(current, tx)), revision: current.revision + 1 };
        if (!(await tx.updateKey(next))) throw new RevisionConflict();
        return next;
      });
    } catch (error) {
      if (!(error instanceof RevisionConflict)) throw error;
    }
  }
  throw new KmsError('KMSInternalException', 'The key was changed by concurrent requests; retry the request.');
}

/** A new KeyMaterialId: 64 hex characters, as AWS's. */
export function newKeyMaterialId(): string {
  return randomBytes(32).toString('hex');
}

const MARKER_RULE = { min: 1, max: 1024, pattern: /^[\u0020-\u00FF]*$/ };

/** The `Limit` and `Marker` members of a List* request. */
export function parsePaging(input: JsonObject, maxLimit: number, defaultLimit: number): { limit: number; marker?: string } {
  const limit = optionalInteger(input, 'Limit', 1, maxLimit) ?? defaultLimit;
  const marker = optionalString(input, 'Marker', MARKER_RULE);
  return marker === undefined ? { limit } : { limit, marker };
}

/** Pages through a list held in memory; the marker (see list-marker.ts) holds the offset of the next item. */
export function pageOf<T>(items: readonly T[], limit: number, marker?: string): { page: T[]; nextMarker?: string } {
  const start = marker === undefined ? 0 : readListMarker('offset', marker);
  if (start > items.length) throw invalidMarker();
  const end = start + limit;
  const page = items.slice(start, end);
  return end < items.length ? { page, nextMarker: writeListMarker('offset', end) } : { page };
}

/** `Truncated`/`NextMarker` as every List* response carries them. */
export function pagingFields(nextMarker: string | undefined): JsonObject {
  return nextMarker === undefined ? { Truncated: false } : { Truncated: true, NextMarker: nextMarker };
}

/** For operations that need key material: a key still waiting for its import cannot take part. */
export function requireNotPendingImport(key: KeyRecord): void {
  if (key.keyState === 'PendingImport') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending import.`);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** `date` plus whole days. */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}
