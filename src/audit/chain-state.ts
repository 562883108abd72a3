/**
 * Where a node's chain stands on disk, for a writer that continues it after a restart: the last
 * complete record (its sequence and hash), the last digest, and whether the newest segment may be
 * appended to. Written bytes are never changed: a segment that ends in a torn line (a crash in
 * the middle of a write) or in a line that does not parse is left as it is, and the chain goes
 * on in a new segment that links to the last good record.
 */
import { GENESIS_HASH, lineHash, parseLine } from './audit-record.js';
import { listSegments, readSegment, splitLines } from './audit-files.js';

export interface ChainState {
  /** 0 for a new chain. */
  lastSequence: number;
  /** Hash of the last record (GENESIS_HASH for a new chain). */
  head: string;
  /** Records after the last digest, and the first of them (sequence, time). */
  sinceDigest: number;
  rangeStart?: { sequence: number; time: Date } | undefined;
  lastTime?: Date | undefined;
  /** The newest segment, if the writer may append to it. */
  appendTo?: { path: string; size: number } | undefined;
}

export function readChainState(dir: string, nodeId: string): ChainState {
  const segments = listSegments(dir).get(nodeId) ?? [];
  const state: ChainState = { lastSequence: 0, head: GENESIS_HASH, sinceDigest: 0 };
  const newest = segments.at(-1);
  if (!newest) return state;
  let newestSize = 0;
  let newestEndsClean = true;
  let foundLast = false;
  scan: for (let i = segments.length - 1; i >= 0; i--) {
    const buffer = readSegment(segments[i]!);
    const { lines, tornTail } = splitLines(buffer);
    if (i === segments.length - 1) {
      newestSize = buffer.length;
      newestEndsClean = tornTail === undefined;
    }
    for (let j = lines.length - 1; j >= 0; j--) {
      const bytes = buffer.subarray(lines[j]!.start, lines[j]!.end);
      let parsed;
      try {
        parsed = parseLine(bytes.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      if (!parsed || parsed.link.nodeId !== nodeId) {
        // Appending after a line that is not ours would hide it behind good ones: start afresh.
        if (!foundLast && i === segments.length - 1) newestEndsClean = false;
        continue;
      }
      if (!foundLast) {
        foundLast = true;
        state.lastSequence = parsed.link.sequence;
        state.head = lineHash(bytes);
        state.lastTime = parsed.time;
      }
      if (parsed.kind === 'digest') break scan;
      state.sinceDigest++;
      state.rangeStart = { sequence: parsed.link.sequence, time: parsed.time };
    }
  }
  const emptyAndNext = newestSize === 0 && newest.firstSequence === state.lastSequence + 1;
  if (newestEndsClean && (newestSize > 0 || emptyAndNext)) state.appendTo = { path: newest.path, size: newestSize };
  return state;
}
