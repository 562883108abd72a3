/**
 * Reading the audit trail: CloudTrail LookupEvents-style queries (newest first, filters, pages
 * with an opaque marker) and `tail`, offline on the audit directory. `hsmkms audit search` and
 * `tail` use this; the `HsmKms.LookupAuditEvents` operation runs {@link lookupAuditEventsAsync}
 * on the server, within a scan budget.
 *
 * Only call records are returned (digests are for `verify`). A line that cannot be read is
 * skipped and counted: reading is not verifying.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { readListMarker, writeListMarker } from '../core/list-marker.js';
import type { AuditEventListPosition } from '../core/ports.js';
import { parseLine, type AuditRecord } from './audit-record.js';
import { fileSize, firstRecordTime, listSegments, readSegment, splitLines, type Segment } from './audit-files.js';
import { runSteps, runStepsAsync, type Steps } from './steps.js';

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
  /** One event, by its place in its node's chain (the API's EventId `<nodeId>:<sequence>`). */
  eventId?: { nodeId: string; sequence: number } | undefined;
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

/**
 * Limits on one lookup's reading, for a server answering many callers: past `maxBytes` of
 * segments read or `deadline` (epoch ms), the lookup stops at a segment boundary and returns what
 * it has with a marker that resumes there (so a page may be short, even empty, and still have a
 * `nextMarker`, as CloudTrail's pages may). At least one segment is read per call.
 */
export interface ScanBudget {
  maxBytes?: number | undefined;
  deadline?: number | undefined;
}

/** One page of events matching `query`, newest first. Throws KmsError InvalidMarkerException for a bad marker. */
export function lookupAuditEvents(dir: string, query: AuditQuery): AuditQueryResult {
  return runSteps(lookupSteps(dir, query, {}));
}

/** {@link lookupAuditEvents} within `budget`, giving the event loop a turn every few milliseconds. */
export function lookupAuditEventsAsync(dir: string, query: AuditQuery, budget: ScanBudget): Promise<AuditQueryResult> {
  return runStepsAsync(lookupSteps(dir, query, budget));
}

function* lookupSteps(dir: string, query: AuditQuery, budget: ScanBudget): Steps<AuditQueryResult> {
  const limit = query.maxResults ?? MAX_LOOKUP_RESULTS;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOOKUP_RESULTS) throw new RangeError(`maxResults must be 1–${MAX_LOOKUP_RESULTS}`);
  const after = query.marker === undefined ? undefined : readListMarker('audit-events', query.marker);
  const matches = matcher(query);
  const needles = lineNeedles(query);
  const from = query.startTime?.getTime() ?? -Infinity;
  const to = Math.min(query.endTime?.getTime() ?? Infinity, after?.time.getTime() ?? Infinity);

  // Each segment holds times from its first record up to the next segment's first: newest spans first.
  const spans = timeSpans(dir, query.eventId?.nodeId).filter((s) => s.end >= from && s.start <= to);
  spans.sort((a, b) => b.end - a.end);
  let found: AuditEventFound[] = [];
  let unreadableLines = 0;
  let scanned = 0;
  let read = 0;
  /** Set when the budget ran out: every matching event newer than this time has been seen. */
  let horizon: number | undefined;
  for (const span of spans) {
    const kth = found[limit];
    if (kth && span.end < kth.time.getTime()) break;
    // Cut only where a time divides what was read from what was not (a finite span end), and
    // only below the page's upper bound, so that every token moves on: spans reaching past it
    // (at most one a node) are read again by the call that resumes, and must not stop it.
    const spent = (budget.maxBytes !== undefined && scanned >= budget.maxBytes) || (budget.deadline !== undefined && Date.now() >= budget.deadline);
    if (read > 0 && spent && Number.isFinite(span.end) && span.end < to) {
      horizon = span.end;
      break;
    }
    const segment = yield* readEventsSteps(span.segment, undefined, needles);
    scanned += segment.bytes;
    read++;
    unreadableLines += segment.unreadable;
    for (const event of segment.events) {
      const t = event.time.getTime();
      if (t < from || t > to || (after && !isAfter(event, after)) || !matches(event)) continue;
      found.push(event);
    }
    found.sort(newestFirst);
    found = found.slice(0, limit + 1);
  }
  if (horizon !== undefined && !(found.length > limit && found[limit]!.time.getTime() > horizon)) {
    const page = found.filter((e) => e.time.getTime() > horizon!);
    // Resumes with every event at or before the horizon, of every node (node id '' sorts first).
    return { events: page, nextMarker: writeListMarker('audit-events', { time: new Date(horizon), nodeId: '', sequence: 0 }), unreadableLines };
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

function matcher(query: AuditQuery): (event: AuditEventFound) => boolean {
  const { eventName, principal, key, errorCode, eventId } = query;
  return ({ record, nodeId, sequence }) => {
    if (eventId !== undefined && (nodeId !== eventId.nodeId || sequence !== eventId.sequence)) return false;
    if (eventName !== undefined && record.eventName !== eventName) return false;
    if (errorCode !== undefined && record.errorCode !== errorCode) return false;
    if (principal !== undefined) {
      const arn = record.userIdentity.arn;
      // `root` is the account's own principal, as LookupAuditEvents names it (CloudTrail's Username).
      const root = principal === 'root' && arn.endsWith(':root');
      if (arn !== principal && !arn.endsWith(`/${principal}`) && arn !== `arn:aws:iam::${principal}:root` && !root) return false;
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

/**
 * Text every line that can match must contain (as JSON writes it), so most lines are skipped
 * without being parsed. Only a pre-filter: matches are decided on the parsed record.
 */
function lineNeedles(query: AuditQuery): Buffer[] {
  const inJson = (text: string) => JSON.stringify(text).slice(1, -1);
  const needles: string[] = [];
  if (query.eventName !== undefined) needles.push(`"eventName":${JSON.stringify(query.eventName)}`);
  if (query.errorCode !== undefined) needles.push(`"errorCode":${JSON.stringify(query.errorCode)}`);
  if (query.principal !== undefined) needles.push(inJson(query.principal));
  if (query.key !== undefined) needles.push(inJson(query.key));
  return needles.map((n) => Buffer.from(n, 'utf8'));
}

function timeSpans(dir: string, onlyNode?: string): TimeSpan[] {
  const spans: TimeSpan[] = [];
  for (const [nodeId, segments] of listSegments(dir)) {
    if (onlyNode !== undefined && nodeId !== onlyNode) continue;
    const starts = segments.map((s) => firstRecordTime(s) ?? -Infinity);
    segments.forEach((segment, i) => spans.push({ segment, start: starts[i]!, end: i + 1 < segments.length ? starts[i + 1]! : Infinity }));
  }
  return spans;
}

/** The call records of a segment (or of its first `size` bytes), in file order. */
export function readEvents(segment: Segment, size?: number): { events: AuditEventFound[]; unreadable: number } {
  return runSteps(readEventsSteps(segment, size, []));
}

/** Lines parsed between two steps. */
const LINES_PER_STEP = 500;

/** {@link readEvents} as steps, skipping lines that lack any of `needles`; also says how many bytes it read. */
function* readEventsSteps(segment: Segment, size: number | undefined, needles: readonly Buffer[]): Steps<{ events: AuditEventFound[]; unreadable: number; bytes: number }> {
  const whole = readSegment(segment);
  const buffer = size === undefined ? whole : whole.subarray(0, size);
  const events: AuditEventFound[] = [];
  let unreadable = 0;
  let sinceStep = 0;
  for (const span of splitLines(buffer).lines) {
    const bytes = buffer.subarray(span.start, span.end);
    if (needles.some((needle) => bytes.indexOf(needle) < 0)) continue;
    if (++sinceStep >= LINES_PER_STEP) {
      sinceStep = 0;
      yield;
    }
    const line = bytes.toString('utf8');
    try {
      const parsed = parseLine(line);
      if (parsed.kind === 'call') events.push({ nodeId: parsed.link.nodeId, sequence: parsed.link.sequence, time: parsed.time, record: parsed.record, line });
    } catch {
      unreadable++;
    }
  }
  return { events, unreadable, bytes: buffer.length };
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
