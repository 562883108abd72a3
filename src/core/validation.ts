/**
 * Input validation with AWS's own wording, so a client sees the message AWS KMS would give:
 * `1 validation error detected: Value 'X' at 'keySpec' failed to satisfy constraint: …`.
 * Member names are reported in lowerCamelCase, as AWS does.
 */
import { MAX_ENCRYPTION_CONTEXT_BYTES } from './encryption-context.js';
import { KmsError } from './errors.js';
import type { JsonObject } from './operation.js';
import { callerText } from './caller-text.js';

function memberName(field: string): string {
  return field.charAt(0).toLowerCase() + field.slice(1);
}

function show(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return `'${callerText(value, 256)}'`;
  return `'${String(value)}'`;
}

/** A ValidationException for one field and constraint. */
export function constraintError(field: string, value: unknown, constraint: string): KmsError {
  return new KmsError(
    'ValidationException',
    `1 validation error detected: Value ${show(value)} at '${memberName(field)}' failed to satisfy constraint: ${constraint}`,
  );
}

function typeError(field: string, expected: string): KmsError {
  return new KmsError('SerializationException', `Field '${field}' must be ${expected}.`);
}

export interface StringRule {
  min?: number;
  max?: number;
  pattern?: RegExp;
}

function checkString(field: string, value: unknown, rule: StringRule): string {
  if (typeof value !== 'string') throw typeError(field, 'a string');
  const { min = 0, max = Infinity, pattern } = rule;
  if (value.length < min) throw constraintError(field, value, `Member must have length greater than or equal to ${min}`);
  if (value.length > max) throw constraintError(field, value, `Member must have length less than or equal to ${max}`);
  if (pattern && !pattern.test(value))
    throw constraintError(field, value, `Member must satisfy regular expression pattern: ${pattern.source}`);
  return value;
}

export function requiredString(input: JsonObject, field: string, rule: StringRule = {}): string {
  const value = input[field];
  if (value === undefined || value === null) throw constraintError(field, null, 'Member must not be null');
  return checkString(field, value, rule);
}

export function optionalString(input: JsonObject, field: string, rule: StringRule = {}): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  return checkString(field, value, rule);
}

export function optionalBoolean(input: JsonObject, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw typeError(field, 'a boolean');
  return value;
}

export function optionalInteger(input: JsonObject, field: string, min: number, max: number): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(field, 'an integer');
  if (value < min) throw constraintError(field, value, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw constraintError(field, value, `Member must have value less than or equal to ${max}`);
  return value;
}

export function requiredEnum<T extends string>(input: JsonObject, field: string, values: readonly T[]): T {
  const value = input[field];
  if (value === undefined || value === null) throw constraintError(field, null, 'Member must not be null');
  return checkEnum(field, value, values);
}

export function optionalEnum<T extends string>(input: JsonObject, field: string, values: readonly T[]): T | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  return checkEnum(field, value, values);
}

function checkEnum<T extends string>(field: string, value: unknown, values: readonly T[]): T {
  if (typeof value !== 'string') throw typeError(field, 'a string');
  if (!(values as readonly string[]).includes(value))
    throw constraintError(field, value, `Member must satisfy enum value set: [${values.join(', ')}]`);
  return value as T;
}

/** Character codes of the base64 alphabet (`A–Z a–z 0–9 + /`), by code. */
const BASE64_ALPHABET = (() => {
  const table = new Uint8Array(128);
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') table[c.charCodeAt(0)] = 1;
  return table;
})();

/**
 * Padded standard base64, as `/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/`
 * accepts it. A loop: that regex cost ~10 µs per 1 KiB plaintext, 1.5% of an Encrypt's CPU.
 */
export function isBase64(value: string): boolean {
  const length = value.length;
  if (length % 4 !== 0) return false;
  let end = length;
  if (end > 0 && value.charCodeAt(end - 1) === 61 /* = */) end--;
  if (end > 0 && value.charCodeAt(end - 1) === 61) end--;
  for (let i = 0; i < end; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || BASE64_ALPHABET[code] === 0) return false;
  }
  return true;
}

/** A blob member: base64 on the wire. `min`/`max` bound the decoded length, as AWS's limits do. */
export function requiredBlob(input: JsonObject, field: string, rule: { min?: number; max?: number } = {}): Buffer {
  const value = input[field];
  if (value === undefined || value === null) throw constraintError(field, null, 'Member must not be null');
  return checkBlob(field, value, rule);
}

export function optionalBlob(input: JsonObject, field: string, rule: { min?: number; max?: number } = {}): Buffer | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  return checkBlob(field, value, rule);
}

function checkBlob(field: string, value: unknown, rule: { min?: number; max?: number }): Buffer {
  if (typeof value !== 'string' || !isBase64(value)) throw typeError(field, 'base64-encoded binary data');
  const bytes = Buffer.from(value, 'base64');
  const { min = 0, max = Infinity } = rule;
  // AWS reports blob lengths without echoing the (possibly secret) value.
  if (bytes.length < min)
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${memberName(field)}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`);
  if (bytes.length > max)
    throw new KmsError('ValidationException', `1 validation error detected: Value at '${memberName(field)}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  return bytes;
}

/**
 * `EncryptionContext`: a string→string map; absent means empty. Keys must not be empty, every
 * key and value must be well-formed UTF-16, and keys and values together take at most
 * {@link MAX_ENCRYPTION_CONTEXT_BYTES} of UTF-8 — checked here, before the context is used for
 * authorisation, so an oversized map costs nothing further.
 */
export function optionalStringMap(input: JsonObject, field: string): Record<string, string> {
  const value = input[field];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(field, 'a map of strings');
  let bytes = 0;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw typeError(field, 'a map of strings');
    if (k.length === 0) throw constraintError(field, '', 'Map keys must have length greater than or equal to 1');
    if (!k.isWellFormed() || !v.isWellFormed()) throw illFormed(field);
    bytes += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
    if (bytes > MAX_ENCRYPTION_CONTEXT_BYTES)
      throw new KmsError(
        'ValidationException',
        `1 validation error detected: Value at '${memberName(field)}' failed to satisfy constraint: Keys and values must total at most ${MAX_ENCRYPTION_CONTEXT_BYTES} bytes of UTF-8`,
      );
  }
  return value as Record<string, string>;
}

function illFormed(path: string): KmsError {
  return new KmsError(
    'ValidationException',
    `1 validation error detected: Value at '${path}' failed to satisfy constraint: Member must be well-formed Unicode (no unpaired surrogate code units)`,
  );
}

/** Nesting deeper than any KMS request has (a few levels) is refused before anything walks it recursively. */
export const MAX_INPUT_DEPTH = 32;

/**
 * Checks a parsed request body as a whole, before any operation sees it: every string and
 * member name is well-formed UTF-16 (JSON's `\ud800` escapes can make lone surrogates, which
 * UTF-8 encoding would silently turn into U+FFFD, so two different strings would authenticate
 * as the same bytes), and nothing nests deeper than {@link MAX_INPUT_DEPTH}. Iterative, so any
 * input that fits in the body limit is walked in bounded stack and linear time.
 */
export function checkRequestInput(input: JsonObject): void {
  // Only containers are stacked; strings are checked where they are found, and a member's
  // path is spelt out only for the error message.
  const stack: Container[] = [{ value: input, depth: 0, parent: undefined, key: '' }];
  const visit = (frame: Container, key: string | number, member: unknown): void => {
    if (typeof member === 'string') {
      if (!member.isWellFormed()) throw illFormed(pathOf(frame, key));
    } else if (typeof member === 'object' && member !== null) {
      if (frame.depth + 1 >= MAX_INPUT_DEPTH)
        throw new KmsError('SerializationException', `The request body nests deeper than ${MAX_INPUT_DEPTH} levels.`);
      stack.push({ value: member, depth: frame.depth + 1, parent: frame, key });
    }
  };
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { value } = frame;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) visit(frame, i, value[i]);
      continue;
    }
    // Keys, not entries: one array per object rather than one more per member.
    for (const name of Object.keys(value)) {
      if (!name.isWellFormed()) throw illFormed(pathOf(frame, '<member name>'));
      visit(frame, name, (value as Record<string, unknown>)[name]);
    }
  }
}

/** A JSON object or array met while checking a request, and where it sits. */
interface Container {
  value: object;
  depth: number;
  parent: Container | undefined;
  key: string | number;
}

/** AWS's way of naming a member: `tags.1.member.tagValue` (lists count from 1). */
function pathOf(container: Container, key: string | number): string {
  const segments: string[] = [];
  for (let c: Container | undefined = container, k: string | number = key; c !== undefined; k = c.key, c = c.parent) {
    if (typeof k === 'number') segments.push(`${k + 1}.member`);
    else segments.push(c.parent === undefined ? memberName(k) : k);
    if (c.parent === undefined) break;
  }
  return segments.reverse().join('.');
}

/** A list member: how many items (`max`), and what each item must satisfy (`member`). */
export interface StringListRule {
  max?: number;
  member?: StringRule;
}

/**
 * A list of strings. The length is checked before the items, so an oversized list costs one
 * comparison whatever it holds; item violations use AWS's wording for list members.
 */
export function optionalStringList(input: JsonObject, field: string, rule: StringListRule = {}): string[] | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw typeError(field, 'a list of strings');
  if (rule.max !== undefined && value.length > rule.max)
    throw constraintError(field, `[${value.length} items]`, `Member must have length less than or equal to ${rule.max}`);
  const { min = 0, max = Infinity, pattern } = rule.member ?? {};
  for (const item of value) {
    if (typeof item !== 'string') throw typeError(field, 'a list of strings');
    const broken: string[] = [];
    if (item.length > max) broken.push(`Member must have length less than or equal to ${max}`);
    if (item.length < min) broken.push(`Member must have length greater than or equal to ${min}`);
    if (pattern && broken.length === 0 && !pattern.test(item)) broken.push(`Member must satisfy regular expression pattern: ${pattern.source}`);
    if (broken.length > 0) throw constraintError(field, item, `Member must satisfy constraint: [${broken.join(', ')}]`);
  }
  return value as string[];
}

export function requiredStringList(input: JsonObject, field: string, rule: StringListRule = {}): string[] {
  const list = optionalStringList(input, field, rule);
  if (list === undefined) throw constraintError(field, null, 'Member must not be null');
  return list;
}

/** `GrantTokens` as every operation that takes them limits them (AWS: 0–10 tokens of 1–8192 characters). */
export const GRANT_TOKENS_RULE: StringListRule = { max: 10, member: { min: 1, max: 8192 } };

/**
 * `Policy` (CreateKey, PutKeyPolicy): AWS's length and character set. The document's own limits
 * and grammar are the policy parser's.
 */
export const POLICY_RULE: StringRule = { min: 1, max: 131072, pattern: /^[\u0009\u000A\u000D\u0020-\u00FF]+$/ };

/** A KeyMaterialId (and our key material version ids): 64 lower-case hex characters, as AWS's. */
export const KEY_MATERIAL_ID_RULE = { min: 64, max: 64, pattern: /^[0-9a-f]{64}$/ } as const satisfies StringRule;

/** The `KeyId` member as every operation accepts it (id, key ARN, alias name, alias ARN). */
export function requiredKeyId(input: JsonObject, field = 'KeyId'): string {
  return requiredString(input, field, { min: 1, max: 2048 });
}

/** Base64 for blob members of a response. */
export function blob(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** awsJson timestamps are epoch seconds (fractional allowed). */
export function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}
