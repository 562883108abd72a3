/**
 * "Has any connection committed since I last looked?" for the price of a dozen memory reads:
 * SQLite's own WAL-index header, read where SQLite keeps it.
 *
 * In WAL mode every connection to a database shares the `-shm` file, mapped into memory, whose
 * first 96 bytes are two copies of the WAL-index header (https://www.sqlite.org/walformat.html):
 * `iChange` (grows with every commit), `mxFrame`, the salts and a checksum. A writer rewrites
 * both copies when it commits (copy 1, a memory barrier, then copy 0) and when it restarts the
 * WAL after a checkpoint; a reader starting a read transaction compares copy 0 with the one it
 * saw last, and that difference is exactly what moves `PRAGMA data_version`; a reader that finds
 * the two copies differ (a writer midway, or one that died between them) rebuilds the header from
 * the WAL, which moves it too. So while both copies are byte for byte the header seen before a
 * `data_version` read, no connection — another worker, the `hsmkms` CLI, any process — has
 * committed since, and that read's answer still holds. Each
 * SQL check instead opens and closes a read transaction: two `fcntl` locks on the `-shm` file and
 * an `fstat`, ~4–5 µs of CPU, twice per API call.
 *
 * The header is read through a read-only mapping of the very `-shm` file SQLite has open in this
 * process (found by device and inode among the process's descriptors, mapped from SQLite's own
 * descriptor: opening and closing another descriptor of it would drop SQLite's POSIX locks).
 * Anything unexpected means the SQL check, never a guess:
 * - no mapping (the native addon not built, an in-memory database, another journal or locking
 *   mode, no `/proc/self/fd`): every check is the SQL one (see {@link openWalIndexWatch});
 * - a header being rewritten (copies differ, or `isInit` unset) when read before a SQL check is
 *   not trusted, so the next check runs SQL again;
 * - the watch is closed before the connection: once no connection of this process holds the
 *   `-shm` file, another process may truncate it, and reading a mapped page past a file's end
 *   kills the process (SIGBUS). While our connection is open SQLite never shrinks the file.
 *
 * Ordering: a worker's commit writes the header before it unlocks and before the worker answers
 * (the answer waits for the WAL sync); the kernel's lock, sync and socket operations between that
 * write and our next request order it before our read of the header, so a call that starts after
 * the answer sees the new header. Within this process the check reads the header before SQLite's
 * own reads of the same call.
 */
import { fstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import type { Database } from 'better-sqlite3';

/** Maps the start of a file this process has open, read-only and shared (the native addon's `mapFdReadOnly`). */
export interface SharedFileMapper {
  mapFd(fd: number, length: number): { buffer: ArrayBuffer; dev: bigint; ino: bigint };
}

/** Two copies of the 48-byte WalIndexHdr. */
const HEADERS_BYTES = 96;
const HEADER_WORDS = 12;
/** WalIndexHdr.iVersion of every SQLite since 3.7.0 (WALINDEX_MAX_VERSION). */
const WALINDEX_VERSION = 3007000;
/** Byte offset of WalIndexHdr.isInit, set to 1 once a header is written. */
const IS_INIT_BYTE = 12;

/** Watches one connection's WAL-index header; see the module doc. */
export class WalIndexWatch {
  private live: Int32Array | undefined;
  private liveBytes: Uint8Array | undefined;
  /** Copy 0 when the last SQL check that succeeded began, and whether it can be trusted. */
  private readonly seen = new Int32Array(HEADER_WORDS);
  private trusted = false;
  /** Copy 0 read before the SQL check in progress ({@link mark}), and whether it was a settled header. */
  private readonly marked = new Int32Array(HEADER_WORDS);
  private markedSettled = false;

  constructor(buffer: ArrayBuffer) {
    this.live = new Int32Array(buffer, 0, 2 * HEADER_WORDS);
    this.liveBytes = new Uint8Array(buffer, 0, HEADERS_BYTES);
  }

  /**
   * True when both copies are as copy 0 was before the last SQL check: nobody has committed since
   * that check. Copy 1 counts too: a writer that died after writing copy 1 and before copy 0 left
   * copy 0 as it was, but its commit is in the WAL, and SQLite's next reader, finding the copies
   * differ, rebuilds the header from the WAL and sees it (walIndexTryHdr, then walIndexRecover).
   */
  unchanged(): boolean {
    const live = this.live;
    if (!this.trusted || live === undefined) return false;
    const seen = this.seen;
    for (let i = 0; i < HEADER_WORDS; i++) if (live[i] !== seen[i] || live[HEADER_WORDS + i] !== seen[i]) return false;
    return true;
  }

  /**
   * Reads copy 0 before a SQL check: a commit after this read and before the check moves the
   * header again, so it is seen next time. Trusted only once {@link confirm}ed.
   */
  mark(): void {
    const live = this.live;
    this.trusted = false;
    if (live === undefined) return;
    const marked = this.marked;
    for (let i = 0; i < HEADER_WORDS; i++) marked[i] = live[i]!;
    // Copy 1 is written first: equal copies and isInit mean no writer was midway through.
    let settled = this.liveBytes![IS_INIT_BYTE] === 1 && marked[0] === WALINDEX_VERSION;
    for (let i = 0; settled && i < HEADER_WORDS; i++) settled = marked[i] === live[HEADER_WORDS + i];
    this.markedSettled = settled;
  }

  /** The SQL check begun after {@link mark} succeeded: its answer holds while copy 0 stays as marked. */
  confirm(): void {
    this.seen.set(this.marked);
    this.trusted = this.markedSettled;
  }

  /** Stops reading the mapping (before the connection closes; see the module doc). */
  close(): void {
    this.trusted = false;
    this.live = undefined;
    this.liveBytes = undefined;
  }
}

/**
 * Maps the WAL-index header of `sqlite`'s database, or says why it cannot (then every check is
 * the SQL one). Call once the connection has read the database (migrations do), so that SQLite
 * has its `-shm` file open.
 */
export function openWalIndexWatch(sqlite: Database, mapper: SharedFileMapper | undefined): WalIndexWatch | { unavailable: string } {
  if (!mapper) return { unavailable: 'the native addon is not built' };
  if (sqlite.memory) return { unavailable: 'in-memory database' };
  if (String(sqlite.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return { unavailable: 'not in WAL mode' };
  if (String(sqlite.pragma('locking_mode', { simple: true })).toLowerCase() !== 'normal') return { unavailable: 'exclusive locking mode (no shared memory)' };
  try {
    // SQLite names the file after the database's real path (symbolic links resolved).
    const shm = statSync(`${realpathSync(sqlite.name)}-shm`, { bigint: true });
    const fd = sqliteDescriptorOf(shm);
    if (fd === undefined) return { unavailable: 'SQLite has no descriptor of the -shm file open in this process' };
    const mapped = mapper.mapFd(fd, HEADERS_BYTES);
    if (mapped.dev !== shm.dev || mapped.ino !== shm.ino) return { unavailable: 'the -shm descriptor changed while it was mapped' };
    const watch = new WalIndexWatch(mapped.buffer);
    if (new Int32Array(mapped.buffer, 0, 1)[0] !== WALINDEX_VERSION) return { unavailable: 'unknown WAL-index version' };
    return watch;
  } catch (error) {
    return { unavailable: (error as Error).message };
  }
}

/** The descriptor of this process open on the file `file` (Linux: /proc/self/fd), if any. */
function sqliteDescriptorOf(file: { dev: bigint; ino: bigint }): number | undefined {
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    try {
      const st = fstatSync(fd, { bigint: true });
      if (st.isFile() && st.dev === file.dev && st.ino === file.ino) return fd;
    } catch {
      // Closed meanwhile (readdir's own descriptor among them).
    }
  }
  return undefined;
}
