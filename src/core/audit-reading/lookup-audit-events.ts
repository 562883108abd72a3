/**
 * HsmKms.LookupAuditEvents: CloudTrail's LookupEvents over hsmkms's own audit trail — every
 * node's chain, newest first — for Auditors and CryptoOfficers (`hsmkms:LookupAuditEvents`).
 *
 * Request: StartTime, EndTime (epoch seconds), LookupAttributes (AttributeKey EventId,
 * EventName, Username, PrincipalArn, ResourceName, KeyId or ErrorCode; up to 5 with different
 * keys, all of which must match — CloudTrail takes one), MaxResults (1–50, default 50),
 * NextToken. Response: Events with CloudTrail's members (EventId, EventName, EventTime,
 * EventSource, Username, Resources, CloudTrailEvent: the stored line) plus PrincipalArn and
 * ErrorCode, and NextToken. A page can be short, even empty, with a NextToken: the reader stops
 * at its scan budget (src/audit/reader.ts), and the next call resumes there.
 */
import { KmsError } from '../errors.js';
import type { JsonObject, Operation } from '../operation.js';
import { epochSeconds, optionalString } from '../validation.js';
import { auditReader, optionalTime } from './audit-rules.js';
import type { AuditEventView, AuditLookup } from './port.js';

const ATTRIBUTE_KEYS = ['EventId', 'EventName', 'Username', 'PrincipalArn', 'ResourceName', 'KeyId', 'ErrorCode'] as const;
type AttributeKey = (typeof ATTRIBUTE_KEYS)[number];
const MAX_ATTRIBUTES = 5;
const EVENT_ID = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63}):([1-9][0-9]{0,15})$/;

export const lookupAuditEvents: Operation = {
  name: 'LookupAuditEvents',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const startTime = optionalTime(input, 'StartTime');
    const endTime = optionalTime(input, 'EndTime');
    if (startTime && endTime && startTime > endTime) throw new KmsError('InvalidTimeRangeException', 'StartTime must not be later than EndTime.');
    const maxResults = parseMaxResults(input);
    const nextToken = optionalString(input, 'NextToken', { min: 1, max: 1024 });
    const query: AuditLookup = { startTime, endTime, maxResults, nextToken, ...parseAttributes(input) };
    const reader = auditReader(deps);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:LookupAuditEvents', context: {} });

    const page = await reader.lookup(query);
    return { Events: page.events.map(eventJson), ...(page.nextToken !== undefined ? { NextToken: page.nextToken } : {}) };
  },
};

function parseMaxResults(input: JsonObject): number {
  const value = input.MaxResults;
  if (value === undefined || value === null) return 50;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new KmsError('SerializationException', "Field 'MaxResults' must be an integer.");
  if (value < 1 || value > 50) throw new KmsError('InvalidMaxResultsException', `MaxResults must be 1–50, not ${value}.`);
  return value;
}

function parseAttributes(input: JsonObject): Omit<AuditLookup, 'startTime' | 'endTime' | 'maxResults' | 'nextToken'> {
  const value = input.LookupAttributes;
  if (value === undefined || value === null) return {};
  if (!Array.isArray(value)) throw new KmsError('SerializationException', "Field 'LookupAttributes' must be a list.");
  if (value.length > MAX_ATTRIBUTES) throw new KmsError('InvalidLookupAttributesException', `At most ${MAX_ATTRIBUTES} lookup attributes are accepted, not ${value.length}.`);
  const out: Omit<AuditLookup, 'startTime' | 'endTime' | 'maxResults' | 'nextToken'> = {};
  const seen = new Set<string>();
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new KmsError('SerializationException', "Each of 'LookupAttributes' must be an object.");
    const { AttributeKey: key, AttributeValue: text } = item as Record<string, unknown>;
    if (typeof key !== 'string' || !(ATTRIBUTE_KEYS as readonly string[]).includes(key))
      throw new KmsError('InvalidLookupAttributesException', `AttributeKey must be one of ${ATTRIBUTE_KEYS.join(', ')}.`);
    if (typeof text !== 'string' || text.length < 1 || text.length > 2048)
      throw new KmsError('InvalidLookupAttributesException', `The AttributeValue of ${key} must be a string of 1–2048 characters.`);
    // KeyId and ResourceName filter the same thing; Username and PrincipalArn too.
    const family = key === 'KeyId' ? 'ResourceName' : key === 'PrincipalArn' ? 'Username' : key;
    if (seen.has(family)) throw new KmsError('InvalidLookupAttributesException', `${key} is given twice (each attribute may appear once).`);
    seen.add(family);
    apply(out, key as AttributeKey, text);
  }
  return out;
}

function apply(query: Omit<AuditLookup, 'startTime' | 'endTime' | 'maxResults' | 'nextToken'>, key: AttributeKey, value: string): void {
  switch (key) {
    case 'EventId': {
      const match = EVENT_ID.exec(value);
      if (!match) throw new KmsError('InvalidLookupAttributesException', 'An EventId is <node id>:<sequence>, as LookupAuditEvents returns it.');
      query.eventId = { nodeId: match[1]!, sequence: Number(match[2]) };
      return;
    }
    case 'EventName':
      query.eventName = value;
      return;
    case 'Username':
    case 'PrincipalArn':
      query.principal = value;
      return;
    case 'ResourceName':
    case 'KeyId':
      query.key = value;
      return;
    case 'ErrorCode':
      query.errorCode = value;
      return;
  }
}

/** CloudTrail's Username: the user name of an IAM user, `root` for the account. */
function userName(arn: string): string {
  if (arn.endsWith(':root')) return 'root';
  const slash = arn.lastIndexOf('/');
  return slash >= 0 ? arn.slice(slash + 1) : arn;
}

function eventJson(event: AuditEventView): JsonObject {
  return {
    EventId: event.eventId,
    EventName: event.eventName,
    EventTime: epochSeconds(event.time),
    EventSource: 'kms.amazonaws.com',
    Username: userName(event.principalArn),
    PrincipalArn: event.principalArn,
    ...(event.errorCode !== undefined ? { ErrorCode: event.errorCode } : {}),
    Resources: event.resources.map((arn) => ({ ResourceType: arn.includes(':alias/') ? 'AWS::KMS::Alias' : 'AWS::KMS::Key', ResourceName: arn })),
    CloudTrailEvent: event.line,
  };
}
