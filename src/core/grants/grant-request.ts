/**
 * The grant a CreateGrant request asks for: its `Operations` and `Constraints`, validated with
 * AWS's limits and wording. Used by CreateGrant and by the authorizer (a grant that allows
 * CreateGrant limits what it may create), so both read the request the same way.
 */
import { KmsError } from '../errors.js';
import type { JsonObject } from '../operation.js';
import { constraintError } from '../validation.js';
import { GRANT_OPERATIONS, type GrantConstraints, type GrantOperation } from './grant.js';

/** Pairs one constraint may hold, and the characters of its keys and values together. */
const MAX_CONSTRAINT_PAIRS = 8;
const MAX_CONSTRAINT_CHARS = 384;

/** What a CreateGrant request asks for. */
export interface RequestedGrant {
  operations: readonly GrantOperation[];
  constraints?: GrantConstraints | undefined;
}

/** `Operations` and `Constraints` of a CreateGrant request; throws the KmsError a client expects. */
export function parseRequestedGrant(input: JsonObject): RequestedGrant {
  return { operations: parseGrantOperations(input), constraints: parseGrantConstraints(input) };
}

/** `Operations`: at least one grant operation; sorted, duplicates dropped. */
export function parseGrantOperations(input: JsonObject): GrantOperation[] {
  const value = input.Operations;
  if (value === undefined || value === null) throw constraintError('Operations', null, 'Member must not be null');
  if (!Array.isArray(value)) throw new KmsError('SerializationException', "Field 'Operations' must be a list of strings.");
  if (value.length === 0) throw constraintError('Operations', '[]', 'Member must have length greater than or equal to 1');
  const ops = new Set<GrantOperation>();
  value.forEach((op: unknown, i) => {
    if (typeof op !== 'string') throw new KmsError('SerializationException', "Field 'Operations' must be a list of strings.");
    if (!(GRANT_OPERATIONS as readonly string[]).includes(op))
      throw constraintError(`Operations.${i + 1}.member`, op, `Member must satisfy enum value set: [${GRANT_OPERATIONS.join(', ')}]`);
    ops.add(op as GrantOperation);
  });
  return [...ops].sort();
}

/** `Constraints`: `EncryptionContextEquals` and/or `EncryptionContextSubset`, each 1–8 pairs. */
export function parseGrantConstraints(input: JsonObject): GrantConstraints | undefined {
  const value = input.Constraints;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new KmsError('SerializationException', "Field 'Constraints' must be an object.");
  const raw = value as Record<string, unknown>;
  const constraints: GrantConstraints = {};
  const equals = constraintMap(raw, 'EncryptionContextEquals');
  const subset = constraintMap(raw, 'EncryptionContextSubset');
  if (equals) constraints.encryptionContextEquals = equals;
  if (subset) constraints.encryptionContextSubset = subset;
  return equals || subset ? constraints : undefined;
}

function constraintMap(raw: Record<string, unknown>, field: string): Record<string, string> | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new KmsError('SerializationException', `Field '${field}' must be a map of strings.`);
  const entries = Object.entries(value as Record<string, unknown>);
  let chars = 0;
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw new KmsError('SerializationException', `Field '${field}' must be a map of strings.`);
    if (k.length === 0) throw new KmsError('ValidationException', `Encryption context keys in ${field} must not be empty.`);
    chars += k.length + v.length;
  }
  if (entries.length > MAX_CONSTRAINT_PAIRS)
    throw new KmsError('ValidationException', `${field} can have at most ${MAX_CONSTRAINT_PAIRS} encryption context pairs; it has ${entries.length}.`);
  if (chars > MAX_CONSTRAINT_CHARS)
    throw new KmsError('ValidationException', `The encryption context in ${field} cannot exceed ${MAX_CONSTRAINT_CHARS} characters; it has ${chars}.`);
  return Object.fromEntries(entries) as Record<string, string>;
}

