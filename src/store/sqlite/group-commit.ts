/**
 * Group commit for the one SQLite connection of a process: commits as durable as under
 * `synchronous = FULL`, without an fsync on the event loop.
 *
 * better-sqlite3 runs everything on the event loop, and at FULL every commit fsyncs the WAL
 * there (several ms on a VM disk), stalling every other request of the worker for that long.
 * Here a write commits at `synchronous = NORMAL` (its frames are written to the WAL, no sync),
 * the WAL file is then fdatasync'd on libuv's thread pool — one sync for every commit made before
 * it started, so concurrent writes share one — and the write resolves only after that sync. A WAL
 * whose frames are on disk replays them after a crash or power loss, which is what FULL's
 * per-commit sync buys. The rest of NORMAL's syncs stay SQLite's: the WAL before each checkpoint,
 * the database file after it, the WAL header (and, once, its directory) when the WAL is started
 * anew. The connection stays open while syncs run, so the WAL file synced is the live one (SQLite
 * deletes it only when its last connection closes).
 *
 * A commit is visible to readers (this connection's, other workers') as soon as its frames are
 * in the WAL, i.e. up to one sync before it is durable. Nothing is answered from it before then:
 * writes wait for their sync, and the metadata store makes a call that ends while a commit (its
 * own, or another worker's it has seen) is not yet synced wait for the sync too.
 *
 * A failed sync fails every write waiting for it, and every later one: after a failed fdatasync
 * the kernel may have dropped the unwritten pages (a retry can then succeed without them ever
 * reaching the disk), so what was committed since the last good sync may be lost on the next
 * power cut while readers still see it. The store refuses further writes and calls with an error
 * that says so, until the process is restarted (after the disk is looked at).
 */
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from '../../core/ports.js';

export interface WalGroupCommitOptions {
  logger?: Logger;
  /**
   * Test seam: how the WAL file is made durable (default `fdatasync` of it). Lets tests fail or
   * delay a sync without touching the disk.
   */
  syncWalFile?: (wal: FileHandle) => Promise<void>;
}

/** A WAL sync failed: the last commits may not be on disk, and no further write is accepted. */
export class WalSyncError extends Error {
  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    super(
      `metadata store: syncing SQLite's write-ahead log to disk failed${typeof code === 'string' ? ` (${code})` : ''}; ` +
        'the latest commits may not be on disk, so this process refuses further metadata writes and calls until it is restarted (check the disk first)',
      { cause },
    );
    this.name = 'WalSyncError';
  }
}

/** The group commit of one connection: the store's dialect and the CA store's direct insert commit through it. */
export class WalGroupCommit {
  /**
   * The connection's `synchronous` level (2 FULL, 3 EXTRA) when commits must reach the disk and
   * the WAL can be synced instead (a file in WAL mode); 0 otherwise (in memory, or `normal`
   * chosen on purpose), when commits are left as SQLite makes them.
   */
  private readonly durableLevel: number;
  private readonly syncWalFile: (wal: FileHandle) => Promise<void>;
  private readonly logger: Logger | undefined;
  private readonly totalChanges: Statement<[], number>;
  /** Writers holding the connection at NORMAL ({@link lower}); the level is restored at zero. */
  private depth = 0;
  /**
   * The WAL file, open for syncing until the store closes (after SQLite's connection: closing a
   * descriptor of a file SQLite has open could drop its POSIX locks).
   */
  private wal: Promise<FileHandle> | undefined;
  /** Commits counted so far ({@link noteCommit}); how many the running sync covers; how many are on disk. */
  private made = 0;
  private runningCovers = 0;
  private synced = 0;
  /** The WAL sync running, and the one that starts after it for commits made meanwhile. */
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private failure: WalSyncError | undefined;

  constructor(
    private readonly sqlite: Database,
    options: WalGroupCommitOptions = {},
  ) {
    const level = Number(sqlite.pragma('synchronous', { simple: true }));
    const wal = String(sqlite.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    this.durableLevel = !sqlite.memory && wal && level >= 2 ? level : 0;
    this.syncWalFile = options.syncWalFile ?? ((file) => file.datasync());
    this.logger = options.logger;
    this.totalChanges = sqlite.prepare<[], number>('SELECT total_changes()').pluck();
  }

  /** Throws once a sync has failed (see the module doc). */
  refuseIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * Lets commits on the connection skip SQLite's own sync until {@link restore}: each must be
   * followed by {@link noteCommit} and awaited with {@link durable} before anyone hears of it.
   * Nestable; call outside a transaction (SQLite refuses to change the level inside one).
   */
  lower(): void {
    this.refuseIfFailed();
    if (this.durableLevel === 0) return;
    // exec rather than pragma(): ~5 µs for the pair against ~28 µs (pragma() also reads the result back).
    if (this.depth === 0) this.sqlite.exec('PRAGMA synchronous = NORMAL');
    this.depth++;
  }

  restore(): void {
    if (this.durableLevel === 0 || this.depth === 0) return;
    if (--this.depth === 0) this.sqlite.exec(`PRAGMA synchronous = ${this.durableLevel}`);
  }

  /** Rows this connection has inserted, updated or deleted so far: a changed count means it wrote. */
  changes(): number {
    return this.totalChanges.get()!;
  }

  /**
   * Counts a commit not yet known to be on disk: one of this connection's, or another
   * connection's that this one has seen (syncing the WAL file makes its frames durable too).
   */
  noteCommit(): void {
    if (this.durableLevel !== 0) this.made++;
  }

  /**
   * The WAL sync in progress, if any (it rejects if the sync fails). A commit made before it ends
   * waits for the sync after it, so a writer may as well hold its commit until then and make it
   * together with whatever else arrived meanwhile.
   */
  get syncInProgress(): Promise<void> | undefined {
    return this.running;
  }

  /** True while some counted commit is not yet known to be on disk. */
  get pending(): boolean {
    return this.made !== this.synced;
  }

  /** Runs `commit` (synchronous statements that commit on this connection) and resolves once it is durable. */
  async commit<T>(commit: () => T): Promise<T> {
    this.lower();
    const before = this.changes();
    let result: T;
    try {
      result = commit();
    } finally {
      this.restore();
      if (this.changes() !== before) this.noteCommit();
    }
    await this.durable();
    return result;
  }

  /**
   * Resolves once every commit counted before this call is on disk; rejects with
   * {@link WalSyncError} if that sync (or an earlier one) failed.
   */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.pending) return Promise.resolve();
    if (!this.running) return this.startSync();
    // The running sync covers commits counted before it began; later ones wait for the next.
    if (this.made <= this.runningCovers) return this.running;
    const after = () => {
      this.next = undefined;
      return this.startSync();
    };
    return (this.next ??= this.running.then(after, after));
  }

  private startSync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const covers = this.made;
    const sync = async () => {
      try {
        // Beside the database's real path, as SQLite puts it (the name given may be a symbolic link).
        this.wal ??= realpath(this.sqlite.name).then((path) => open(`${path}-wal`, 'r'));
        await this.syncWalFile(await this.wal);
        this.synced = Math.max(this.synced, covers);
      } catch (error) {
        this.failure ??= new WalSyncError(error);
        this.logger?.error({ store: 'sqlite', path: this.sqlite.name, err: error }, this.failure.message);
        throw this.failure;
      }
    };
    const running: Promise<void> = sync().finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    this.runningCovers = covers;
    return running;
  }

  /** Closes the WAL descriptor; call once the connection is closed. */
  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.next]);
    const wal = this.wal;
    this.wal = undefined;
    const handle = await wal?.catch(() => undefined);
    await handle?.close();
  }
}
