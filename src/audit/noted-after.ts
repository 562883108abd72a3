/**
 * What calls noted in their records (`additionalEventData.<member>`) after a position in each
 * node's chain: how a store restores what it left to the audit trail's durability (the CA's
 * journaled certificates, src/ca/certificate-journal.ts). Reads only the segments that can hold
 * records after the position, and parses only lines that name the member.
 */
import { listSegments, readSegment, splitLines } from './audit-files.js';
import { parseLine } from './audit-record.js';

export interface NotedAfter {
  /** The noted values, in chain order per node. */
  values: unknown[];
  /** Per node, the last sequence of a whole record read: every record up to it was looked at. */
  ends: Map<string, number>;
}

/** `member` of the records named `eventName` with a sequence above `after[node]` (0 when absent), over every node in `dir`. */
export function notedAfter(dir: string, after: ReadonlyMap<string, number>, eventName: string, member: string): NotedAfter {
  const needle = Buffer.from(JSON.stringify(member));
  const values: unknown[] = [];
  const ends = new Map<string, number>();
  for (const [nodeId, segments] of listSegments(dir)) {
    const mark = after.get(nodeId) ?? 0;
    let end = mark;
    segments.forEach((segment, i) => {
      // Every record of a segment comes before the next segment's first.
      const next = segments[i + 1];
      if (next && next.firstSequence <= mark + 1) return;
      const buffer = readSegment(segment);
      const { lines } = splitLines(buffer);
      for (const span of lines) {
        const bytes = buffer.subarray(span.start, span.end);
        const noted = bytes.indexOf(needle) >= 0;
        // The segment's last whole line tells where the chain ends even when nothing is noted.
        if (!noted && span !== lines.at(-1)) continue;
        let parsed;
        try {
          parsed = parseLine(bytes.toString('utf8'));
        } catch {
          continue;
        }
        if (parsed.link.nodeId !== nodeId) continue;
        end = Math.max(end, parsed.link.sequence);
        if (!noted || parsed.kind !== 'call' || parsed.link.sequence <= mark || parsed.record.eventName !== eventName) continue;
        const data = (parsed.record as { additionalEventData?: Record<string, unknown> }).additionalEventData;
        if (data && Object.hasOwn(data, member)) values.push(data[member]);
      }
    });
    ends.set(nodeId, end);
  }
  return { values, ends };
}
