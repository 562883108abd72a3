/**
 * The audit trail on disk: one directory, one chain per node, each chain cut into segment files
 * named `<nodeId>.<first sequence, 12 digits>.jsonl` (so names sort in chain order), the
 * verification key as `audit-public-key.pem`, and one `<nodeId>.lock` per running writer.
 *
 * Writers only ever append; a segment is never rewritten, renamed or removed by hsmkms (retention
 * is the operator's: remove the oldest segments). Readers (verify, search, tail) use these helpers
 * and never need the HSM.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants, openSync, fsyncSync, closeSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_ID_PATTERN, parseLine } from './audit-record.js';

export const SEGMENT_SUFFIX = '.jsonl';
export const PUBLIC_KEY_FILE = 'audit-public-key.pem';
const SEGMENT_NAME = /^(.+)\.(\d{12,16})\.jsonl$/;

/** One segment file of one node's chain. */
export interface Segment {
  nodeId: string;
  firstSequence: number;
  path: string;
  name: string;
}

export function segmentFileName(nodeId: string, firstSequence: number): string {
  return `${nodeId}.${String(firstSequence).padStart(12, '0')}${SEGMENT_SUFFIX}`;
}

export function lockFileName(nodeId: string): string {
  return `${nodeId}.lock`;
}

/** Every segment in `dir`, grouped by node, each node's in chain order. Other files are ignored. */
export function listSegments(dir: string): Map<string, Segment[]> {
  const byNode = new Map<string, Segment[]>();
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (!m || !NODE_ID_PATTERN.test(m[1]!)) continue;
    const segment = { nodeId: m[1]!, firstSequence: Number(m[2]), path: join(dir, name), name };
    const list = byNode.get(segment.nodeId) ?? [];
    list.push(segment);
    byNode.set(segment.nodeId, list);
  }
  for (const list of byNode.values()) list.sort((a, b) => a.firstSequence - b.firstSequence);
  return new Map([...byNode.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A line of a file: its bytes are `buffer.subarray(start, end)` (no newline); `number` counts from 1. */
export interface LineSpan {
  number: number;
  start: number;
  end: number;
}

/**
 * The newline-terminated lines of a file, and what follows the last newline: bytes a writer
 * was stopped in the middle of (a crash), never a whole record.
 */
export function splitLines(buffer: Buffer): { lines: LineSpan[]; tornTail?: { start: number; length: number } } {
  const lines: LineSpan[] = [];
  let start = 0;
  for (;;) {
    const end = buffer.indexOf(0x0a, start);
    if (end < 0) break;
    lines.push({ number: lines.length + 1, start, end });
    start = end + 1;
  }
  return start < buffer.length ? { lines, tornTail: { start, length: buffer.length - start } } : { lines };
}

/** The time of a segment's first readable record, from its first 256 KiB. */
/**
 * First-record times already read, by path with the file's mtime and size: a rotated segment is
 * read once per process, not on every lookup; a file that changed (appended to, or edited) is read again.
 */
const firstTimes = new Map<string, { stamp: string; time: number }>();
const MAX_REMEMBERED_FIRST_TIMES = 100_000;

export function firstRecordTime(segment: Segment): number | undefined {
  const { mtimeMs, size } = statSync(segment.path);
  const stamp = `${mtimeMs}:${size}`;
  const known = firstTimes.get(segment.path);
  if (known?.stamp === stamp) return known.time;
  const time = readFirstRecordTime(segment);
  if (time !== undefined) {
    if (firstTimes.size >= MAX_REMEMBERED_FIRST_TIMES) firstTimes.clear();
    firstTimes.set(segment.path, { stamp, time });
  }
  return time;
}

function readFirstRecordTime(segment: Segment): number | undefined {
  const buffer = Buffer.alloc(256 * 1024);
  const fd = openSync(segment.path, 'r');
  let length: number;
  try {
    length = readSync(fd, buffer, 0, buffer.length, 0);
  } finally {
    closeSync(fd);
  }
  const { lines } = splitLines(buffer.subarray(0, length));
  for (const span of lines) {
    try {
      return parseLine(buffer.subarray(span.start, span.end).toString('utf8')).time.getTime();
    } catch {
      /* try the next line */
    }
  }
  return undefined;
}

export function readSegment(segment: Segment): Buffer {
  return readFileSync(segment.path);
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

/** The writer's view of one segment: append-only, durable once `datasync` has returned. Injected in tests to fail on demand. */
export interface AuditFile {
  /** Appends every byte (retrying short writes) or throws. */
  append(data: Buffer): Promise<void>;
  datasync(): Promise<void>;
  /** Cuts the file back to `size` bytes (bytes of a failed, never acknowledged write). */
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export interface AuditFileSystem {
  /**
   * Opens a segment for appending, creating it (mode 0600) if missing; returns it and its size.
   * `appendsDurable` (default true): each append returns once on disk (O_DSYNC where the
   * platform has it); false: appends reach the file (a process crash keeps them) and `datasync`
   * makes them durable (`--audit-sync background`).
   */
  openForAppend(path: string, options?: { appendsDurable?: boolean }): Promise<{ file: AuditFile; size: number }>;
  /** Makes a new directory entry durable (after creating a segment). */
  syncDirectory(dir: string): Promise<void>;
}

/** The real file system. */
export const nodeFileSystem: AuditFileSystem = {
  async openForAppend(path, options) {
    // O_DSYNC: each write returns once its bytes (and the size that reaches them) are on disk,
    // so a batch costs one write on the thread pool instead of a write and an fdatasync.
    // Where the platform has no O_DSYNC (Windows), every datasync is a real fdatasync.
    const dsync = constants.O_DSYNC !== undefined && options?.appendsDurable !== false;
    const handle = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (dsync ? constants.O_DSYNC : 0), 0o600);
    try {
      const { size } = await handle.stat();
      return { file: fileOf(handle, dsync), size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  },
  async syncDirectory(dir) {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

/** A segment; opened with O_DSYNC (`dsync`), `datasync` has work to do only after a truncation. */
function fileOf(handle: FileHandle, dsync: boolean): AuditFile {
  /** Whether there is anything an fdatasync would still have to make durable. */
  let mustSync = !dsync;
  return {
    async append(data) {
      let offset = 0;
      while (offset < data.length) {
        // A short write (a file-size limit, a full disk) writes part; the next call reports why.
        const { bytesWritten } = await handle.write(data, offset, data.length - offset);
        if (bytesWritten === 0) throw new Error('audit file write made no progress');
        offset += bytesWritten;
      }
    },
    async datasync() {
      // Appends are durable when they return (O_DSYNC); a truncation is not, until synced.
      if (!mustSync) return;
      await handle.datasync();
      mustSync = !dsync;
    },
    async truncate(size) {
      await handle.truncate(size);
      mustSync = true;
    },
    close: () => handle.close(),
  };
}
