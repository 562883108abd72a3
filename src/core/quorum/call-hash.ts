/**
 * The canonical form of a guarded call, whose SHA-256 binds an approval request to exactly one
 * call: the caller, the operation, the key (or keys) it resolved to, and the request parameters.
 *
 * Canonical JSON: objects with their members sorted by UTF-16 code units (JSON.stringify's
 * ordering of `Object.keys` after sorting), arrays in order, strings and numbers as
 * JSON.stringify writes them, no whitespace. So a client may send members in any order and the
 * same call hashes the same; any changed value hashes differently.
 *
 * Volatile members — left out because they do not change what the call does — are
 * {@link VOLATILE_MEMBERS}: `GrantTokens` (which grants to consult, not what to do) and `DryRun`
 * (a dry run asks whether the call would pass; it may open the request the real call then
 * consumes).
 */
import { createHash } from 'node:crypto';
import { KmsError } from '../errors.js';
import type { JsonObject } from '../operation.js';

/** Top-level request members that do not take part in the hash. */
export const VOLATILE_MEMBERS: ReadonlySet<string> = new Set(['GrantTokens', 'DryRun']);

/** Nesting deeper than this is refused (no KMS request nests more than a few levels). */
const MAX_DEPTH = 32;

export interface GuardedCall {
  callerArn: string;
  operation: string;
  /** The key the call resolved to (several, comma-separated, for a call on two keys): a re-pointed alias then needs a new approval. */
  keyArn?: string | undefined;
  input: JsonObject;
}

/** Hex SHA-256 of the canonical call (format version 1). */
export function callHash(call: GuardedCall): string {
  const parameters: JsonObject = {};
  for (const [name, value] of Object.entries(call.input)) if (!VOLATILE_MEMBERS.has(name)) parameters[name] = value;
  const canonical = canonicalJson({ v: 1, caller: call.callerArn, operation: call.operation, key: call.keyArn ?? null, parameters });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** Canonical JSON text of a JSON value (see the module comment). */
export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new KmsError('ValidationException', `The request nests more than ${MAX_DEPTH} levels deep.`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k], depth + 1)}`);
    return `{${members.join(',')}}`;
  }
  // undefined, functions, symbols, bigints never come out of JSON.parse.
  return 'null';
}
