/**
 * Reading the audit trail: CloudTrail LookupEvents-style queries (newest first, filters, pages
 * with an opaque marker) and `tail`, offline on the audit directory. `hsmkms audit search` and
 * `tail` use this; the `HsmKms.LookupAuditEvents` operation is meant to wrap
 * {@link lookupAuditEvents} as it is.
 *
 * Only call records are returned (digests are for `verify`). A line that cannot be read is
 * skipped and counted: reading is not verifying.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { readListMarker, writeListMarker } from '../core/list-marker.js';
import type { AuditEventListPosition } from '../core/ports.js';
import { parseLine, type AuditRecord } from './audit-record.js';
import { fileSize, firstRecordTime, listSegments, readSegment, splitLines, type Segment } from './audit-files.js';

/** LookupEvents' own page limit. */
export const MAX_LOOKUP_RESULTS = 50;

export interface AuditQuery {
  /** Events at or after this time… */
  startTime?: Date | undefined;
  /** …and at or before this one. */
  endTime?: Date | undefined;
  /** Exact operation name (`Decrypt`). */
  eventName?: string | undefined;
  /** The caller: an ARN, or the user name at its end (`alice`), or an account's root (`111122223333`). */
  principal?: string | undefined;
  /** A key or alias: id, ARN or `alias/name`, as a resource or as the request's KeyId. */
  key?: string | undefined;
  /** Exact error code (`AccessDenied…`); calls that succeeded have none. */
  errorCode?: string | undefined;
  /** 1–50, default 50. */
  maxResults?: number | undefined;
  /** `nextMarker` of the previous page. */
  marker?: string | undefined;
}

export interface AuditEventFound {
  nodeId: string;
  sequence: number;
  time: Date;
  record: AuditRecord;
  /** The line as stored (CloudTrail's `CloudTrailEvent`). */
  line: string;
}

export interface AuditQueryResult {
  /** Newest first. */
  events: AuditEventFound[];
  nextMarker?: string | undefined;
  /** Lines that could not be read as records; `audit verify` says why. */
  unreadableLines: number;
}

/** One page of events matching `query`, newest first. Throws KmsError InvalidMarkerException for a bad marker. */
export function lookupAuditEvents(dir: string, query: AuditQuery): AuditQueryResult {
  const limit = query.maxResults ?? MAX_LOOKUP_RESULTS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOOKUP_RESULTS) throw new RangeError(`maxResults must be 1–${MAX_LOOKUP_RESULTS}`);
  const after = query.marker === undefined ? undefined : readListMarker('audit-events', query.marker);
  const matches = matcher(query);
  const from = query.startTime?.getTime() ?? -Infinity;
  const to = Math.min(query.endTime?.getTime() ?? Infinity, after?.time.getTime() ?? Infinity);

  // Each segment holds times from its first record up to the next segment's first: newest spans first.
  const spans = timeSpans(dir).filter((s) => s.end >= from && s.start <= to);
  spans.sort((a, b) => b.end - a.end);
  let found: AuditEventFound[] = [];
  let unreadableLines = 0;
  for (const span of spans) {
    const kth = found[limit];
    if (kth && span.end < kth.time.getTime()) break;
    const segment = readEvents(span.segment);
    unreadableLines += segment.unreadable;
    for (const event of segment.events) {
      const t = event.time.getTime();
      if (t < from || t > to || (after && !isAfter(event, after)) || !matches(event.record)) continue;
      found.push(event);
    }
    found.sort(newestFirst);
    found = found.slice(0, limit + 1);
  }
  const page = found.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page,
    nextMarker: found.length > limit && last ? writeListMarker('audit-events', { time: last.time, nodeId: last.nodeId, sequence: last.sequence }) : undefined,
    unreadableLines,
  };
}

function newestFirst(a: AuditEventFound, b: AuditEventFound): number {
  return b.time.getTime() - a.time.getTime() || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0) || b.sequence - a.sequence;
}

/** Whether `event` comes after the marker's position in newest-first order. */
function isAfter(event: AuditEventFound, position: AuditEventListPosition): boolean {
  const t = event.time.getTime();
  const at = position.time.getTime();
  if (t !== at) return t < at;
  if (event.nodeId !== position.nodeId) return event.nodeId > position.nodeId;
  return event.sequence < position.sequence;
}

function matcher(query: AuditQuery): (record: AuditRecord) => boolean {
  const { eventName, principal, key, errorCode } = query;
  return (record) => {
    if (eventName !== undefined && record.eventName !== eventName) return false;
    if (errorCode !== undefined && record.errorCode !== errorCode) return false;
    if (principal !== undefined) {
      const arn = record.userIdentity.arn;
      if (arn !== principal && !arn.endsWith(`/${principal}`) && arn !== `arn:aws:iam::${principal}:root`) return false;
    }
    if (key !== undefined && !namesKey(record, key)) return false;
    return true;
  };
}

function namesKey(record: AuditRecord, key: string): boolean {
  for (const resource of record.resources) if (resource.ARN === key || resource.ARN.endsWith(`/${key}`) || resource.ARN.endsWith(`:${key}`)) return true;
  const parameters = record.requestParameters ?? {};
  return ['KeyId', 'TargetKeyId', 'SourceKeyId', 'DestinationKeyId', 'AliasName'].some((name) => parameters[name] === key);
}

interface TimeSpan {
  segment: Segment;
  start: number;
  end: number;
}

function timeSpans(dir: string): TimeSpan[] {
  const spans: TimeSpan[] = [];
  for (const segments of listSegments(dir).values()) {
    const starts = segments.map((s) => firstRecordTime(s) ?? -Infinity);
    segments.forEach((segment, i) => spans.push({ segment, start: starts[i]!, end: i + 1 < segments.length ? starts[i + 1]! : Infinity }));
  }
  return spans;
}

/** The call records of a segment (or of its first `size` bytes), in file order. */
export function readEvents(segment: Segment, size?: number): { events: AuditEventFound[]; unreadable: number } {
  const whole = readSegment(segment);
  const buffer = size === undefined ? whole : whole.subarray(0, size);
  const events: AuditEventFound[] = [];
  let unreadable = 0;
  for (const span of splitLines(buffer).lines) {
    const line = buffer.subarray(span.start, span.end).toString('utf8');
    try {
      const parsed = parseLine(line);
      if (parsed.kind === 'call') events.push({ nodeId: parsed.link.nodeId, sequence: parsed.link.sequence, time: parsed.time, record: parsed.record, line });
    } catch {
      unreadable++;
    }
  }
  return { events, unreadable };
}

export interface TailOptions {
  /** How many of the latest events to show first. */
  last: number;
  /** Keep watching for new events (until `signal` aborts). */
  follow: boolean;
  /** Called once the backlog is out and new events are being watched for. */
  onFollowing?: () => void;
  signal?: AbortSignal | undefined;
  pollMs?: number;
  onEvent(event: AuditEventFound): void;
}

/** `tail`: the latest events across nodes in time order, then (when following) each new one as it is written. */
export async function tailAuditEvents(dir: string, options: TailOptions): Promise<void> {
  // Where each node's newest segment ends now: the backlog is read up to there, following starts there.
  const positions = new Map<string, { segment: Segment; offset: number; partial: Buffer }>();
  const backlog: AuditEventFound[] = [];
  for (const [nodeId, segments] of listSegments(dir)) {
    const newest = segments.at(-1)!;
    const size = fileSize(newest.path);
    positions.set(nodeId, { segment: newest, offset: size, partial: Buffer.alloc(0) });
    const events: AuditEventFound[] = [];
    for (let i = segments.length - 1; i >= 0 && events.length < options.last; i--)
      events.unshift(...readEvents(segments[i]!, i === segments.length - 1 ? size : undefined).events);
    backlog.push(...events.slice(-options.last));
  }
  backlog.sort((a, b) => -newestFirst(a, b));
  for (const event of backlog.slice(-options.last)) options.onEvent(event);
  if (!options.follow) return;
  options.onFollowing?.();
  const pollMs = options.pollMs ?? 500;
  while (!options.signal?.aborted) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    for (const [nodeId, segments] of listSegments(dir)) {
      let position = positions.get(nodeId);
      const fresh = position ? segments.filter((s) => s.firstSequence >= position!.segment.firstSequence) : segments;
      for (const segment of fresh) {
        if (!position || position.segment.path !== segment.path) {
          position = { segment, offset: 0, partial: Buffer.alloc(0) };
          positions.set(nodeId, position);
        }
        const added = readFrom(segment.path, position.offset);
        position.offset += added.length;
        const buffer = Buffer.concat([position.partial, added]);
        const { lines } = splitLines(buffer);
        const consumed = lines.length > 0 ? lines.at(-1)!.end + 1 : 0;
        position.partial = buffer.subarray(consumed);
        for (const span of lines) {
          try {
            const parsed = parseLine(buffer.subarray(span.start, span.end).toString('utf8'));
            if (parsed.kind === 'call')
              options.onEvent({ nodeId, sequence: parsed.link.sequence, time: parsed.time, record: parsed.record, line: buffer.subarray(span.start, span.end).toString('utf8') });
          } catch {
            /* not a record: verify reports it */
          }
        }
      }
    }
  }
}

function readFrom(path: string, offset: number): Buffer {
  const size = fileSize(path);
  if (size <= offset) return Buffer.alloc(0);
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
