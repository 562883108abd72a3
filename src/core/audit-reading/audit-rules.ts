/** What the audit-reading operations share: the reader, and times in awsJson's epoch seconds. */
import { KmsError } from '../errors.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { AuditReader } from './port.js';

/** The audit trail's reader, or UnsupportedOperationException where the trail is off. */
export function auditReader(deps: KmsDeps): AuditReader {
  if (!deps.auditReader) throw new KmsError('UnsupportedOperationException', 'This server keeps no audit trail (it runs with the audit trail off).');
  return deps.auditReader;
}

/** Latest time accepted: AWS's own timestamp range ends in year 9999; ours at JavaScript's Date limit. */
const MAX_EPOCH_SECONDS = 8.64e12;

/** A timestamp member: epoch seconds, fractions allowed (as the AWS SDKs send them). */
export function optionalTime(input: JsonObject, field: string): Date | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new KmsError('SerializationException', `Field '${field}' must be a timestamp in epoch seconds.`);
  if (value < 0 || value > MAX_EPOCH_SECONDS) throw new KmsError('InvalidTimeRangeException', `${field} ${value} is not a time this service can look at.`);
  return new Date(Math.round(value * 1000));
}
