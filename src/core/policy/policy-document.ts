/**
 * The IAM policy language as key policies use it: parsing and structural validation.
 * A document that passes {@link parsePolicyDocument} has a known shape, so the evaluator that
 * enforces key policies later can rely on it without re-checking.
 */
import { KmsError } from '../errors.js';
import { parseConditionOperator } from './condition-operators.js';
import { firstDuplicateMember } from './duplicate-members.js';
import { callerText } from '../caller-text.js';

/** AWS's quota on a key policy document: 32 KiB. */
export const MAX_POLICY_BYTES = 32 * 1024;

export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;

/**
 * A principal block: `"*"` (anyone) or a map from principal type to identifiers
 * (`{"AWS": [...], "Service": [...]}`), identifiers normalised to arrays.
 */
export type PolicyPrincipal = '*' | Partial<Record<PrincipalType, string[]>>;

export const PRINCIPAL_TYPES = ['AWS', 'Service', 'Federated', 'CanonicalUser'] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/** `{ operator: { conditionKey: [values] } }`, values normalised to string arrays. */
export type PolicyCondition = Record<string, Record<string, string[]>>;

export interface PolicyStatement {
  sid?: string | undefined;
  effect: 'Allow' | 'Deny';
  principal?: PolicyPrincipal | undefined;
  notPrincipal?: PolicyPrincipal | undefined;
  action?: string[] | undefined;
  notAction?: string[] | undefined;
  resource?: string[] | undefined;
  notResource?: string[] | undefined;
  condition?: PolicyCondition | undefined;
}

export interface PolicyDocument {
  version: (typeof POLICY_VERSIONS)[number];
  id?: string | undefined;
  statements: PolicyStatement[];
}

function malformed(message: string): KmsError {
  return new KmsError('MalformedPolicyDocumentException', message);
}

const TOP_LEVEL = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_FIELDS = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);

/** What a policy is attached to: a key (key policy) or a principal (identity policy). */
export type PolicyKind = 'resource' | 'identity';

export interface ParseOptions {
  /**
   * `resource` (the default): a key policy, where every statement names a Principal or
   * NotPrincipal. `identity`: an IAM identity policy attached to a principal, where neither may
   * appear (IAM: "Policy document should not specify a principal").
   */
  kind?: PolicyKind;
  /**
   * Accept a member repeated within one object (the last copy wins, as JSON.parse reads it).
   * Only for documents stored before such documents were refused, so that they keep working.
   */
  allowDuplicateMembers?: boolean;
}

/**
 * The length of `text` encoded as UTF-8 (a lone surrogate counts as U+FFFD, as encoders write
 * it), without Node's Buffer: the web console runs this module in the browser.
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Parses and validates a key policy (or, with `{ kind: 'identity' }`, an identity policy).
 * Throws MalformedPolicyDocumentException naming the first problem found, so the author can fix
 * it. Whatever the input (deeply nested arrays included), it throws nothing else: the document
 * is walked only to the fixed depth of the policy grammar, and every value is type-checked
 * before use.
 */
export function parsePolicyDocument(text: string, options: ParseOptions = {}): PolicyDocument {
  const kind = options.kind ?? 'resource';
  const noun = kind === 'identity' ? 'The policy' : 'The key policy';
  if (typeof text !== 'string') throw malformed(`${noun} must be a JSON string.`);
  // The AWS API reference (CreateKey, PutKeyPolicy Policy): "If the key policy exceeds the length
  // constraint, KMS returns a LimitExceededException" — a quota, not a malformed document.
  if (utf8Length(text) > MAX_POLICY_BYTES)
    throw new KmsError(kind === 'identity' ? 'MalformedPolicyDocumentException' : 'LimitExceededException', `${noun} exceeds the maximum size of ${MAX_POLICY_BYTES} bytes.`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw malformed(`${noun} is not valid JSON.`);
  }
  const duplicate = options.allowDuplicateMembers ? undefined : firstDuplicateMember(text);
  if (duplicate !== undefined)
    throw malformed(`${noun} repeats the member ${shown(duplicate)} within one object. Give each member once (merge repeated condition operators or keys into one).`);
  if (!isObject(raw)) throw malformed(`${noun} must be a JSON object.`);
  for (const field of Object.keys(raw))
    if (!TOP_LEVEL.has(field)) throw malformed(`${noun} contains an unsupported field: ${clip(field)}.`);

  const version = raw.Version;
  if (version === undefined) throw malformed(`${noun} is missing the required field Version.`);
  if (typeof version !== 'string' || !(POLICY_VERSIONS as readonly string[]).includes(version))
    throw malformed(`The policy version is not supported: ${shown(version)}. Use 2012-10-17.`);
  const id = raw.Id;
  if (id !== undefined && typeof id !== 'string') throw malformed('The policy Id must be a string.');

  const rawStatements = raw.Statement;
  if (rawStatements === undefined) throw malformed(`${noun} is missing the required field Statement.`);
  const list = Array.isArray(rawStatements) ? rawStatements : [rawStatements];
  if (list.length === 0) throw malformed(`${noun} must contain at least one statement.`);
  const statements = list.map((s, i) => parseStatement(s, i, kind));

  const sids = new Set<string>();
  for (const s of statements) {
    if (s.sid === undefined || s.sid === '') continue;
    if (sids.has(s.sid)) throw malformed(`Statement IDs (SID) in a single policy must be unique: ${shown(s.sid)}.`);
    sids.add(s.sid);
  }
  return { version: version as PolicyDocument['version'], id, statements };
}

/** A name from the document (a field or an operator) for an error message, cut short. */
function clip(name: string): string {
  return callerText(name, 64);
}

/**
 * A value for an error message: strings quoted and cut short, anything else by its JSON type.
 * Never stringifies a structure (a 5,000-deep array would overflow the stack).
 */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(callerText(value, 64));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : `a value of type ${typeof value}`;
}

function parseStatement(raw: unknown, index: number, kind: PolicyKind): PolicyStatement {
  const where = `Statement ${index + 1}`;
  if (!isObject(raw)) throw malformed(`${where} must be a JSON object.`);
  for (const field of Object.keys(raw))
    if (!STATEMENT_FIELDS.has(field)) throw malformed(`${where} contains an unsupported field: ${clip(field)}.`);

  const sid = raw.Sid;
  if (sid !== undefined && typeof sid !== 'string') throw malformed(`${where}: Sid must be a string.`);
  const effect = raw.Effect;
  if (effect === undefined) throw malformed(`${where} is missing the required field Effect.`);
  if (effect !== 'Allow' && effect !== 'Deny') throw malformed(`${where}: Effect must be Allow or Deny, not ${shown(effect)}.`);

  const statement: PolicyStatement = { sid, effect };
  if (kind === 'identity') {
    if (raw.Principal !== undefined || raw.NotPrincipal !== undefined)
      throw malformed(`${where}: an identity policy must not specify a Principal or NotPrincipal.`);
  } else {
    exactlyOne(raw, 'Principal', 'NotPrincipal', where);
    if (raw.Principal !== undefined) statement.principal = parsePrincipal(raw.Principal, where);
    if (raw.NotPrincipal !== undefined) statement.notPrincipal = parsePrincipal(raw.NotPrincipal, where);
  }

  exactlyOne(raw, 'Action', 'NotAction', where);
  if (raw.Action !== undefined) statement.action = parseActions(raw.Action, where);
  if (raw.NotAction !== undefined) statement.notAction = parseActions(raw.NotAction, where);

  exactlyOne(raw, 'Resource', 'NotResource', where);
  if (raw.Resource !== undefined) statement.resource = parseResources(raw.Resource, where);
  if (raw.NotResource !== undefined) statement.notResource = parseResources(raw.NotResource, where);

  if (raw.Condition !== undefined) statement.condition = parseCondition(raw.Condition, where, kind);
  return statement;
}

function exactlyOne(raw: Record<string, unknown>, a: string, b: string, where: string): void {
  if (raw[a] !== undefined && raw[b] !== undefined) throw malformed(`${where} cannot contain both ${a} and ${b}.`);
  if (raw[a] === undefined && raw[b] === undefined) throw malformed(`${where} is missing the required field ${a}.`);
}

const ACCOUNT_ID = /^\d{12}$/;
// arn:partition:iam::account:root | user/... | role/... | assumed-role/... ; arn:...:sts::...
// No wildcards: "You cannot use a wildcard to match part of a principal name or ARN" (IAM User
// Guide, "AWS JSON policy elements: Principal"); only "*" alone means everyone.
const IAM_PRINCIPAL_ARN = /^arn:[a-z-]+:(iam|sts)::\d{12}:[A-Za-z0-9+=,.@_\-/]+$/;
const SERVICE_PRINCIPAL = /^[a-z0-9.-]+\.(amazonaws\.com|amazonaws\.com\.cn|amazon\.com)$|^\*$/;

const INVALID_PRINCIPALS = 'Policy contains a statement with one or more invalid principals.';

function parsePrincipal(raw: unknown, where: string): PolicyPrincipal {
  if (raw === '*') return '*';
  if (!isObject(raw)) throw malformed(`${where}: ${INVALID_PRINCIPALS}`);
  const result: Partial<Record<PrincipalType, string[]>> = {};
  const entries = Object.entries(raw);
  if (entries.length === 0) throw malformed(`${where}: ${INVALID_PRINCIPALS}`);
  for (const [type, value] of entries) {
    if (!(PRINCIPAL_TYPES as readonly string[]).includes(type)) throw malformed(`${where}: ${INVALID_PRINCIPALS}`);
    const ids = stringList(value);
    if (!ids || ids.length === 0) throw malformed(`${where}: ${INVALID_PRINCIPALS}`);
    for (const id of ids) if (!validPrincipalId(type as PrincipalType, id)) throw malformed(`${where}: ${INVALID_PRINCIPALS}`);
    result[type as PrincipalType] = ids;
  }
  return result;
}

function validPrincipalId(type: PrincipalType, id: string): boolean {
  switch (type) {
    case 'AWS':
      return id === '*' || ACCOUNT_ID.test(id) || IAM_PRINCIPAL_ARN.test(id);
    case 'Service':
      return SERVICE_PRINCIPAL.test(id);
    case 'Federated':
    case 'CanonicalUser':
      return id.length > 0;
  }
}

// `*`, or `service:ActionPattern` with IAM's wildcards.
const ACTION = /^(\*|[a-zA-Z0-9-]+:[A-Za-z0-9*?]+)$/;

function parseActions(raw: unknown, where: string): string[] {
  const actions = stringList(raw);
  if (!actions || actions.length === 0) throw malformed(`${where}: Action must be a string or a list of strings.`);
  for (const action of actions) if (!ACTION.test(action)) throw malformed(`${where}: invalid action ${shown(action)}.`);
  return actions;
}

function parseResources(raw: unknown, where: string): string[] {
  const resources = stringList(raw);
  if (!resources || resources.length === 0) throw malformed(`${where}: Resource must be a string or a list of strings.`);
  for (const resource of resources)
    if (resource !== '*' && !resource.startsWith('arn:'))
      throw malformed(`${where}: invalid resource ${shown(resource)}; use "*" or an ARN.`);
  return resources;
}

/**
 * Single-valued keys for which AWS KMS refuses `ForAllValues` in a key policy, because it
 * matches requests that lack the key ("OverlyPermissiveCondition", AWS KMS Developer Guide,
 * "AWS KMS condition keys": using set operators with condition keys).
 */
const FOR_ALL_VALUES_REFUSED = ['kms:encryptioncontext:', 'aws:requesttag/'];

function parseCondition(raw: unknown, where: string, kind: PolicyKind): PolicyCondition {
  if (!isObject(raw)) throw malformed(`${where}: Condition must be a JSON object.`);
  const result: PolicyCondition = {};
  for (const [operator, block] of Object.entries(raw)) {
    const parsed = parseConditionOperator(operator);
    if (!parsed) throw malformed(`${where}: unknown condition operator ${clip(operator)}.`);
    if (!isObject(block) || Object.keys(block).length === 0)
      throw malformed(`${where}: condition ${parsed.name} must map condition keys to values.`);
    const keys: Record<string, string[]> = {};
    for (const [conditionKey, value] of Object.entries(block)) {
      if (conditionKey.length === 0) throw malformed(`${where}: condition ${parsed.name} names an empty condition key.`);
      const values = scalarList(value);
      if (!values || values.length === 0)
        throw malformed(`${where}: condition ${parsed.name} on ${shown(conditionKey)} needs one or more values.`);
      if (kind === 'resource' && parsed.qualifier === 'ForAllValues') {
        const lower = conditionKey.toLowerCase();
        if (FOR_ALL_VALUES_REFUSED.some((prefix) => lower.startsWith(prefix)))
          throw malformed(
            `${where}: OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key ` +
              `(${shown(conditionKey)}) matches requests without it or with unspecified values. To fix, remove ForAllValues.`,
          );
      }
      keys[conditionKey] = values;
    }
    result[operator] = keys;
  }
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) return undefined;
  for (const v of value) if (typeof v !== 'string') return undefined;
  return value as string[];
}

/** Condition values may be strings, numbers or booleans in JSON; IAM compares them as text. */
function scalarList(value: unknown): string[] | undefined {
  if (isScalar(value)) return [String(value)];
  if (!Array.isArray(value)) return undefined;
  for (const v of value) if (!isScalar(v)) return undefined;
  return value.map(String);
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}
