/**
 * The audit record format, version 2: one JSON object per line, field names after AWS
 * CloudTrail's so existing tooling reads it, each line chained to the one before it. This module
 * alone writes and parses it.
 *
 * Every line starts with its place in its node's chain — `nodeId`, `sequence` (1, 2, 3 … per
 * node) and `previousHash`, the SHA-256 (hex) of the previous line's bytes (64 zeros for the
 * first line of a chain) — so changing, removing, reordering or inserting a line breaks a link.
 * Two kinds of line:
 *
 * - a call (`eventType` `AwsApiCall`):
 * ```json
 * {"eventVersion":"2.0","eventType":"AwsApiCall","nodeId":"host-w0","sequence":17,"previousHash":"9f…",
 *  "eventTime":"2026-01-02T03:04:05.678Z","eventSource":"kms.amazonaws.com","eventName":"Encrypt","requestID":"…",
 *  "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/app","accountId":"111122223333"},
 *  "sourceIPAddress":"127.0.0.1","userAgent":"aws-cli/2…","resources":[{"ARN":"arn:aws:kms:…:key/…","type":"AWS::KMS::Key"}],
 *  "requestParameters":{"KeyId":"alias/app","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}
 * ```
 *   `errorCode`/`errorMessage` appear on failed calls; any other field of the event (such as
 *   `additionalEventData`) is carried through under its own name. Optional fields are omitted, never null.
 * - a digest (`eventType` `HsmKmsAuditDigest`), after every N calls or T seconds: it names the
 *   range it closes (`digestStartSequence`…`digestEndSequence`, their times) and, through its own
 *   `previousHash`, the chain head; `signature` is ECDSA P-384 over SHA-384 of the line's bytes
 *   without the trailing `,"signature":"…"` member, made in the HSM by the audit key whose SPKI
 *   SHA-256 is `publicKeyFingerprint`. So a digest vouches for every line before it.
 */
import { createHash, hash } from 'node:crypto';
import { AUDIT_LIMITS, cutString, sanitizeAuditValue } from '../core/audit-parameters.js';
import type { AuditActor, AuditEvent } from '../core/ports.js';

/** The version written; parsers accept any `2.x`. A change that old parsers would misread bumps the major. */
export const AUDIT_RECORD_VERSION = '2.0';
export const CALL_EVENT_TYPE = 'AwsApiCall';
/** CloudTrail's type for what the service did by itself (scheduled deletion, automatic rotation, …). */
export const SERVICE_EVENT_TYPE = 'AwsServiceEvent';
export const DIGEST_EVENT_TYPE = 'HsmKmsAuditDigest';
/** The only digest signature algorithm (KMS's name for it). */
export const DIGEST_SIGNATURE_ALGORITHM = 'ECDSA_SHA_384';
/** `previousHash` of the first line of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
/** Node ids: also part of file names. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A line's place in its node's chain. */
export interface ChainLink {
  nodeId: string;
  sequence: number;
  /** SHA-256 (hex) of the previous line of this chain. */
  previousHash: string;
}

export interface AuditResource {
  ARN: string;
  type: 'AWS::KMS::Key' | 'AWS::KMS::Alias';
}

export interface AuditUserIdentity {
  /** `AWSService`: the service's own work (scheduler); `Operator`: an offline `hsmkms` command on the data directory. */
  type: 'Root' | 'IAMUser' | 'AWSService' | 'Operator';
  arn: string;
  accountId?: string;
  /** CloudTrail's field for who invoked a service event: `kms.amazonaws.com`, or `hsmkms-cli`. */
  invokedBy?: string;
  /** For `Operator`: the operating-system user and host that ran the command (`user@host`). */
  userName?: string;
}

/** A call's line, as JSON. */
export interface AuditRecord extends ChainLink {
  eventVersion: string;
  eventType: typeof CALL_EVENT_TYPE | typeof SERVICE_EVENT_TYPE;
  eventTime: string;
  eventSource: 'kms.amazonaws.com';
  eventName: string;
  requestID: string;
  userIdentity: AuditUserIdentity;
  sourceIPAddress?: string;
  userAgent?: string;
  resources: AuditResource[];
  requestParameters?: Record<string, unknown>;
  errorCode?: string;
  errorMessage?: string;
  /** CloudTrail's field: the authorization decision and the grant and quorum ids that decided. */
  additionalEventData?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** What a digest says, before it is signed. */
export interface DigestFields extends ChainLink {
  /** When the digest was made. */
  eventTime: string;
  digestStartSequence: number;
  digestEndSequence: number;
  digestStartTime: string;
  digestEndTime: string;
  publicKeyFingerprint: string;
}

/** A digest's line, as JSON. */
export interface DigestRecord extends DigestFields {
  eventVersion: string;
  eventType: typeof DIGEST_EVENT_TYPE;
  signatureAlgorithm: typeof DIGEST_SIGNATURE_ALGORITHM;
  /** Base64 DER ECDSA signature. */
  signature: string;
}

/** A parsed line. `signedText` is what a digest's signature covers. */
export type ParsedLine =
  | { kind: 'call'; link: ChainLink; time: Date; record: AuditRecord; event: AuditEvent }
  | { kind: 'digest'; link: ChainLink; time: Date; digest: DigestRecord; signedText: string; signature: Buffer };

/** The line does not hold an audit record this version can read. */
export class AuditRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditRecordError';
  }
}

/** SHA-256 (hex) of a line's bytes, without its newline: what the next line's `previousHash` holds. */
export function lineHash(line: string | Uint8Array): string {
  // One-shot: no Hash object per line.
  return hash('sha256', line, 'hex');
}

/** SHA-256 (hex) of a SubjectPublicKeyInfo (DER): how a digest names its key. */
export function publicKeyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

/** Fields of a call's line that come from the chain or the format, not from the event. */
const RECORD_FIELDS: ReadonlySet<string> = new Set([
  'eventVersion',
  'eventType',
  'nodeId',
  'sequence',
  'previousHash',
  'eventTime',
  'eventSource',
  'eventName',
  'requestID',
  'userIdentity',
  'sourceIPAddress',
  'userAgent',
  'resources',
  'requestParameters',
  'errorCode',
  'errorMessage',
]);

/** Event fields this module maps to record fields by name. */
const EVENT_FIELDS: ReadonlySet<string> = new Set([
  'eventTime',
  'eventName',
  'requestId',
  'principalArn',
  'sourceIp',
  'userAgent',
  'resources',
  'requestParameters',
  'errorCode',
  'errorMessage',
  'actor',
]);

/** The JSON of a call's line; secrets removed and caller-controlled text bounded. */
export function toAuditRecord(event: AuditEvent, link: ChainLink): AuditRecord {
  const record: AuditRecord = {
    eventVersion: AUDIT_RECORD_VERSION,
    eventType: event.actor?.type === 'AWSService' ? SERVICE_EVENT_TYPE : CALL_EVENT_TYPE,
    nodeId: link.nodeId,
    sequence: link.sequence,
    previousHash: link.previousHash,
    eventTime: event.eventTime.toISOString(),
    eventSource: 'kms.amazonaws.com',
    eventName: cutString(event.eventName, AUDIT_LIMITS.identifier),
    requestID: cutString(event.requestId, AUDIT_LIMITS.identifier),
    userIdentity: identityOf(event.principalArn, event.actor),
    resources: event.resources.map((arn) => ({ ARN: arn, type: arn.includes(':alias/') ? 'AWS::KMS::Alias' : 'AWS::KMS::Key' })),
  };
  if (event.sourceIp !== undefined) record.sourceIPAddress = cutString(event.sourceIp, AUDIT_LIMITS.identifier);
  if (event.userAgent !== undefined) record.userAgent = cutString(event.userAgent, AUDIT_LIMITS.header);
  if (event.requestParameters !== undefined) {
    // The dispatcher already kept only known members; this is the last line of defence.
    record.requestParameters = sanitizeAuditValue(event.requestParameters) as Record<string, unknown>;
  }
  // Fields added to AuditEvent later (additionalEventData, …) are carried under their own names.
  for (const name in event) {
    if (!Object.hasOwn(event, name) || EVENT_FIELDS.has(name) || RECORD_FIELDS.has(name)) continue;
    const value = (event as unknown as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const clean = sanitizeAuditValue(value);
    if (clean !== undefined) record[name] = clean;
  }
  if (event.errorCode !== undefined) record.errorCode = cutString(event.errorCode, AUDIT_LIMITS.identifier);
  if (event.errorMessage !== undefined) record.errorMessage = cutString(event.errorMessage, AUDIT_LIMITS.header);
  return record;
}

/** A call's line, without the newline. JSON escapes every control character, so a line never splits. */
export function formatCallLine(event: AuditEvent, link: ChainLink): string {
  return JSON.stringify(toAuditRecord(event, link));
}

/** The text a digest's signature covers: its JSON without the signature member. */
export function digestSignedText(fields: DigestFields): string {
  const unsigned = {
    eventVersion: AUDIT_RECORD_VERSION,
    eventType: DIGEST_EVENT_TYPE,
    nodeId: fields.nodeId,
    sequence: fields.sequence,
    previousHash: fields.previousHash,
    eventTime: fields.eventTime,
    digestStartSequence: fields.digestStartSequence,
    digestEndSequence: fields.digestEndSequence,
    digestStartTime: fields.digestStartTime,
    digestEndTime: fields.digestEndTime,
    signatureAlgorithm: DIGEST_SIGNATURE_ALGORITHM,
    publicKeyFingerprint: fields.publicKeyFingerprint,
  };
  return JSON.stringify(unsigned);
}

/** A digest's line: the signed text with the signature appended as its last member. */
export function formatDigestLine(signedText: string, signature: Uint8Array): string {
  return `${signedText.slice(0, -1)}${signatureSuffix(Buffer.from(signature).toString('base64'))}`;
}

function signatureSuffix(signatureBase64: string): string {
  return `,"signature":"${signatureBase64}"}`;
}

/** Reads one line (without its newline). Throws {@link AuditRecordError} on anything malformed. */
export function parseLine(line: string): ParsedLine {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    throw new AuditRecordError('not JSON');
  }
  if (!isObject(doc)) throw new AuditRecordError('not a JSON object');
  const version = doc.eventVersion;
  if (typeof version !== 'string' || !/^2\.\d{1,4}$/.test(version)) {
    throw new AuditRecordError(`unsupported eventVersion ${JSON.stringify(version)?.slice(0, 40)}`);
  }
  const link = chainLinkOf(doc);
  const time = timestamp(doc, 'eventTime');
  if (doc.eventType === CALL_EVENT_TYPE || doc.eventType === SERVICE_EVENT_TYPE) return { kind: 'call', link, time, record: doc as AuditRecord, event: eventOf(doc, time) };
  if (doc.eventType === DIGEST_EVENT_TYPE) return parseDigest(line, doc, link, time);
  throw new AuditRecordError(`unknown eventType ${JSON.stringify(doc.eventType)?.slice(0, 40)}`);
}

/** Reads a call's line back into the event it records. */
export function parseCallLine(line: string): AuditEvent {
  const parsed = parseLine(line);
  if (parsed.kind !== 'call') throw new AuditRecordError('not a call record');
  return parsed.event;
}

function chainLinkOf(doc: Record<string, unknown>): ChainLink {
  const nodeId = doc.nodeId;
  if (typeof nodeId !== 'string' || !NODE_ID_PATTERN.test(nodeId)) throw new AuditRecordError('nodeId is missing or malformed');
  const sequence = positiveInteger(doc, 'sequence');
  const previousHash = doc.previousHash;
  if (typeof previousHash !== 'string' || !/^[0-9a-f]{64}$/.test(previousHash)) throw new AuditRecordError('previousHash is missing or malformed');
  return { nodeId, sequence, previousHash };
}

function eventOf(doc: Record<string, unknown>, eventTime: Date): AuditEvent {
  const identity = doc.userIdentity;
  if (!isObject(identity) || typeof identity.arn !== 'string') throw new AuditRecordError('userIdentity.arn is missing');
  const resources = doc.resources;
  if (!Array.isArray(resources)) throw new AuditRecordError('resources is not a list');
  const event: AuditEvent = {
    eventTime,
    eventName: requiredString(doc, 'eventName'),
    requestId: requiredString(doc, 'requestID'),
    principalArn: identity.arn,
    resources: resources.map((r) => {
      if (!isObject(r) || typeof r.ARN !== 'string') throw new AuditRecordError('a resource has no ARN');
      return r.ARN;
    }),
  };
  const actor = actorOf(identity);
  if (actor !== undefined) event.actor = actor;
  const sourceIp = optionalString(doc, 'sourceIPAddress');
  if (sourceIp !== undefined) event.sourceIp = sourceIp;
  const userAgent = optionalString(doc, 'userAgent');
  if (userAgent !== undefined) event.userAgent = userAgent;
  if (doc.requestParameters !== undefined) {
    if (!isObject(doc.requestParameters)) throw new AuditRecordError('requestParameters is not an object');
    event.requestParameters = doc.requestParameters;
  }
  const errorCode = optionalString(doc, 'errorCode');
  if (errorCode !== undefined) event.errorCode = errorCode;
  const errorMessage = optionalString(doc, 'errorMessage');
  if (errorMessage !== undefined) event.errorMessage = errorMessage;
  if (doc.additionalEventData !== undefined && !isObject(doc.additionalEventData))
    throw new AuditRecordError('additionalEventData is not an object');
  for (const [name, value] of Object.entries(doc)) {
    if (!RECORD_FIELDS.has(name) && !EVENT_FIELDS.has(name)) (event as unknown as Record<string, unknown>)[name] = value;
  }
  return event;
}

function parseDigest(line: string, doc: Record<string, unknown>, link: ChainLink, time: Date): ParsedLine {
  if (doc.signatureAlgorithm !== DIGEST_SIGNATURE_ALGORITHM) throw new AuditRecordError('digest signatureAlgorithm is not ECDSA_SHA_384');
  const fingerprint = doc.publicKeyFingerprint;
  if (typeof fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(fingerprint)) throw new AuditRecordError('digest publicKeyFingerprint is malformed');
  const signature = doc.signature;
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]{8,400}={0,2}$/.test(signature)) throw new AuditRecordError('digest signature is malformed');
  const suffix = signatureSuffix(signature);
  // The signature covers the bytes before it; it must be the last member, written exactly so.
  if (!line.endsWith(suffix)) throw new AuditRecordError('digest signature is not the last member');
  const fields: DigestFields = {
    ...link,
    eventTime: time.toISOString(),
    digestStartSequence: positiveInteger(doc, 'digestStartSequence'),
    digestEndSequence: positiveInteger(doc, 'digestEndSequence'),
    digestStartTime: timestamp(doc, 'digestStartTime').toISOString(),
    digestEndTime: timestamp(doc, 'digestEndTime').toISOString(),
    publicKeyFingerprint: fingerprint,
  };
  if (fields.digestStartSequence > fields.digestEndSequence || fields.digestEndSequence >= link.sequence)
    throw new AuditRecordError('digest range is not before the digest');
  const digest: DigestRecord = {
    ...fields,
    eventVersion: doc.eventVersion as string,
    eventType: DIGEST_EVENT_TYPE,
    signatureAlgorithm: DIGEST_SIGNATURE_ALGORITHM,
    signature,
  };
  return { kind: 'digest', link, time, digest, signedText: `${line.slice(0, -suffix.length)}}`, signature: Buffer.from(signature, 'base64') };
}

function identityOf(arn: string, actor: AuditActor | undefined): AuditUserIdentity {
  const accountId = /^arn:[^:]+:iam::(\d{12}):/.exec(arn)?.[1];
  const identity: AuditUserIdentity = { type: actor?.type ?? (arn.endsWith(':root') ? 'Root' : 'IAMUser'), arn };
  if (accountId !== undefined) identity.accountId = accountId;
  if (actor) identity.invokedBy = cutString(actor.invokedBy, AUDIT_LIMITS.identifier);
  if (actor?.type === 'Operator') identity.userName = cutString(actor.userName, AUDIT_LIMITS.identifier);
  return identity;
}

/** The non-API actor a record's `userIdentity` names, if any. */
function actorOf(identity: Record<string, unknown>): AuditActor | undefined {
  const invokedBy = typeof identity.invokedBy === 'string' ? identity.invokedBy : undefined;
  if (identity.type === 'AWSService' && invokedBy !== undefined) return { type: 'AWSService', invokedBy };
  if (identity.type === 'Operator' && invokedBy !== undefined && typeof identity.userName === 'string')
    return { type: 'Operator', invokedBy, userName: identity.userName };
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requiredString(doc: Record<string, unknown>, field: string): string {
  const value = doc[field];
  if (typeof value !== 'string') throw new AuditRecordError(`${field} is missing or not a string`);
  return value;
}

function optionalString(doc: Record<string, unknown>, field: string): string | undefined {
  const value = doc[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new AuditRecordError(`${field} is not a string`);
  return value;
}

function positiveInteger(doc: Record<string, unknown>, field: string): number {
  const value = doc[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new AuditRecordError(`${field} is not a positive integer`);
  return value;
}

function timestamp(doc: Record<string, unknown>, field: string): Date {
  const value = requiredString(doc, field);
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) throw new AuditRecordError(`${field} is not a timestamp`);
  return time;
}
