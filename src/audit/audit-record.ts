/**
 * The audit record format: one JSON object per line, field names after AWS CloudTrail's so
 * existing tooling reads it, plus `eventVersion` naming this format's version. This module
 * alone writes and parses it.
 *
 * ```json
 * {"eventVersion":"1.0","eventTime":"2026-01-02T03:04:05.678Z","eventSource":"kms.amazonaws.com",
 *  "eventName":"Encrypt","requestID":"…","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/app","accountId":"111122223333"},
 *  "sourceIPAddress":"127.0.0.1","userAgent":"aws-cli/2…","resources":[{"ARN":"arn:aws:kms:…:key/…","type":"AWS::KMS::Key"}],
 *  "requestParameters":{"KeyId":"alias/app","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}
 * ```
 * `errorCode`/`errorMessage` appear on failed calls. Optional fields are omitted, never null.
 */
import type { AuditEvent } from '../core/ports.js';
import { redactSecrets } from './redact.js';

/** The version written; parsers accept any `1.x`. A change that old parsers would misread bumps the major. */
export const AUDIT_RECORD_VERSION = '1.0';

export interface AuditResource {
  ARN: string;
  type: 'AWS::KMS::Key' | 'AWS::KMS::Alias';
}

export interface AuditUserIdentity {
  type: 'Root' | 'IAMUser';
  arn: string;
  accountId?: string;
}

/** One line of the audit trail, as JSON. */
export interface AuditRecord {
  eventVersion: string;
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
}

/** The line does not hold an audit record this version can read. */
export class AuditRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditRecordError';
  }
}

/** The record for `event`, with secrets removed from its request parameters. */
export function toAuditRecord(event: AuditEvent): AuditRecord {
  const record: AuditRecord = {
    eventVersion: AUDIT_RECORD_VERSION,
    eventTime: event.eventTime.toISOString(),
    eventSource: 'kms.amazonaws.com',
    eventName: event.eventName,
    requestID: event.requestId,
    userIdentity: identityOf(event.principalArn),
    resources: event.resources.map((arn) => ({ ARN: arn, type: arn.includes(':alias/') ? 'AWS::KMS::Alias' : 'AWS::KMS::Key' })),
  };
  if (event.sourceIp !== undefined) record.sourceIPAddress = event.sourceIp;
  if (event.userAgent !== undefined) record.userAgent = event.userAgent;
  if (event.requestParameters !== undefined) {
    record.requestParameters = redactSecrets(event.requestParameters) as Record<string, unknown>;
  }
  if (event.errorCode !== undefined) record.errorCode = event.errorCode;
  if (event.errorMessage !== undefined) record.errorMessage = event.errorMessage;
  if (event.additionalEventData !== undefined) record.additionalEventData = event.additionalEventData;
  return record;
}

/** One line of the trail, without the newline. JSON escapes every control character, so a line never splits. */
export function formatAuditRecord(event: AuditEvent): string {
  return JSON.stringify(toAuditRecord(event));
}

/** Reads one line back into an event. Throws {@link AuditRecordError} on anything malformed. */
export function parseAuditRecord(line: string): AuditEvent {
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    throw new AuditRecordError('audit record is not JSON');
  }
  if (!isObject(doc)) throw new AuditRecordError('audit record is not a JSON object');
  const version = doc.eventVersion;
  if (typeof version !== 'string' || !/^1\.\d+$/.test(version)) {
    throw new AuditRecordError(`unsupported audit record version ${JSON.stringify(version)}`);
  }
  const eventTime = new Date(requiredString(doc, 'eventTime'));
  if (Number.isNaN(eventTime.getTime())) throw new AuditRecordError('audit record eventTime is not a timestamp');
  const identity = doc.userIdentity;
  if (!isObject(identity) || typeof identity.arn !== 'string') throw new AuditRecordError('audit record userIdentity.arn is missing');
  const resources = doc.resources;
  if (!Array.isArray(resources)) throw new AuditRecordError('audit record resources is not a list');
  const event: AuditEvent = {
    eventTime,
    eventName: requiredString(doc, 'eventName'),
    requestId: requiredString(doc, 'requestID'),
    principalArn: identity.arn,
    resources: resources.map((r) => {
      if (!isObject(r) || typeof r.ARN !== 'string') throw new AuditRecordError('audit record resource has no ARN');
      return r.ARN;
    }),
  };
  const sourceIp = optionalString(doc, 'sourceIPAddress');
  if (sourceIp !== undefined) event.sourceIp = sourceIp;
  const userAgent = optionalString(doc, 'userAgent');
  if (userAgent !== undefined) event.userAgent = userAgent;
  if (doc.requestParameters !== undefined) {
    if (!isObject(doc.requestParameters)) throw new AuditRecordError('audit record requestParameters is not an object');
    event.requestParameters = doc.requestParameters;
  }
  const errorCode = optionalString(doc, 'errorCode');
  if (errorCode !== undefined) event.errorCode = errorCode;
  const errorMessage = optionalString(doc, 'errorMessage');
  if (errorMessage !== undefined) event.errorMessage = errorMessage;
  if (doc.additionalEventData !== undefined) {
    if (!isObject(doc.additionalEventData)) throw new AuditRecordError('audit record additionalEventData is not an object');
    event.additionalEventData = doc.additionalEventData;
  }
  return event;
}

function identityOf(arn: string): AuditUserIdentity {
  const accountId = /^arn:[^:]+:iam::(\d{12}):/.exec(arn)?.[1];
  const identity: AuditUserIdentity = { type: arn.endsWith(':root') ? 'Root' : 'IAMUser', arn };
  if (accountId !== undefined) identity.accountId = accountId;
  return identity;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requiredString(doc: Record<string, unknown>, field: string): string {
  const value = doc[field];
  if (typeof value !== 'string') throw new AuditRecordError(`audit record ${field} is missing or not a string`);
  return value;
}

function optionalString(doc: Record<string, unknown>, field: string): string | undefined {
  const value = doc[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new AuditRecordError(`audit record ${field} is not a string`);
  return value;
}
