/**
 * The SQLite metadata store (better-sqlite3 through Kysely): the default for a single node.
 *
 * Settings, and why:
 * - `journal_mode=WAL`: readers never block the writer, and a second process (one worker per
 *   core) can read while another writes.
 * - `synchronous=FULL`: a committed key is on disk before the client hears of it; losing a
 *   committed key version would make everything encrypted under it undecryptable. Writes made
 *   through the store commit at NORMAL and are then made as durable on the thread pool, one
 *   WAL sync per group of commits, before they resolve (group-commit.ts); FULL stays the
 *   connection's level for anything else.
 * - `busy_timeout`: writers from other processes wait instead of failing at once. better-sqlite3
 *   waits synchronously, so a process blocks while another holds the write lock: keep
 *   transactions short (the core never awaits the HSM inside one).
 * - `foreign_keys=ON`: versions, aliases, tags and import tokens cannot outlive their key.
 * - Transactions start with `BEGIN IMMEDIATE`, so two processes never both read and then
 *   fail to upgrade to a write lock (a `SQLITE_BUSY` that busy_timeout cannot resolve).
 * - The database file is created with mode 0600 (its directory 0700 when we create it);
 *   SQLite gives the `-wal` and `-shm` files the database file's mode.
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDriver,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
} from 'kysely';
import type { Logger } from '../../core/ports.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { migrateToLatest } from '../sql/migrations/index.js';
import type { MetadataDatabase } from '../sql/schema.js';
import { guardTransactions, TransactionScope } from '../sql/sql-store.js';
import { WalGroupCommit, type WalGroupCommitOptions } from './group-commit.js';
import { SqliteMetadataStore } from './sqlite-store.js';
import { openWalIndexWatch, type SharedFileMapper } from './wal-index.js';
import { nativeFileMapper } from '../../native/file-map.js';

export { SqliteMetadataStore } from './sqlite-store.js';

/** How long a writer waits for another process's write lock before failing. */
const BUSY_TIMEOUT_MS = 5_000;

export interface SqliteStoreOptions {
  /** A file path, or `':memory:'` for a private in-memory database (tests). */
  path: string;
  logger?: Logger;
  /**
   * `full` (default): every write is on disk before it resolves (group-commit.ts). `normal`: commits survive a
   * process crash but the last ones may be lost on power failure; about a hundred times faster
   * to commit on slow disks. Only for throwaway data (benchmarks): a lost key version makes
   * everything encrypted under it undecryptable.
   */
  synchronous?: 'full' | 'normal';
  /** Entries of each of the read caches (keys, key versions, principals); default 16,384. */
  readCacheEntries?: number;
  /** Test seam: replaces the fdatasync of the WAL file that makes commits durable (group-commit.ts). */
  syncWalFile?: WalGroupCommitOptions['syncWalFile'];
  /**
   * How the read cache sees other connections' commits without SQL (wal-index.ts): default the
   * native addon's mapping; `null` checks with `PRAGMA data_version` on every check (as without the addon).
   */
  fileMapper?: SharedFileMapper | null;
}

/** SQLite's column types, and its duplicate-key errors as better-sqlite3 reports them. */
export const sqliteFlavor: SqlFlavor = {
  name: 'sqlite',
  lockRowsForUpdate: false,
  binaryType: 'blob',
  bigintType: 'integer',
  isUniqueViolation(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
  },
};

/**
 * Opens (creating if needed) a SQLite metadata store and brings its schema up to date.
 * Throws if the file cannot be opened or a migration fails.
 */
/** SQLite page cache per connection, KiB. */
const CACHE_KIB = 65536;

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteMetadataStore> {
  const inMemory = options.path === ':memory:';
  const path = inMemory ? options.path : resolve(options.path);
  if (!inMemory) createPrivateFile(path, options.logger);

  const sqlite = new Database(path);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    sqlite.pragma('foreign_keys = ON');
    // Every Encrypt/Decrypt reads a key row and a version row: keep 100,000 keys' worth of
    // pages in memory (the default 2 MiB holds a few thousand) so cost stays flat as keys grow.
    sqlite.pragma(`cache_size = -${CACHE_KIB}`);
  } catch (error) {
    sqlite.close();
    throw error;
  }

  const commits = new WalGroupCommit(sqlite, { logger: options.logger, syncWalFile: options.syncWalFile });
  const scope = new TransactionScope();
  const db = new Kysely<MetadataDatabase>({ dialect: guardTransactions(durableSqliteDialect(sqlite, commits), scope) });
  let walIndex;
  try {
    const applied = await migrateToLatest(db as Kysely<unknown>, sqliteFlavor);
    // After the migrations: SQLite has the -shm file open once the connection has read.
    walIndex = openWalIndexWatch(sqlite, options.fileMapper === null ? undefined : (options.fileMapper ?? nativeFileMapper()));
    const commitCheck = 'unavailable' in walIndex ? `PRAGMA data_version (WAL-index header not mapped: ${walIndex.unavailable})` : 'WAL-index header';
    options.logger?.info({ store: 'sqlite', path, migrationsApplied: applied, commitCheck }, 'metadata store opened');
  } catch (error) {
    await db.destroy();
    await commits.close();
    throw error;
  }
  return new SqliteMetadataStore({
    db,
    sqlite,
    flavor: sqliteFlavor,
    scope,
    commits,
    readCacheEntries: options.readCacheEntries,
    walIndex: 'unavailable' in walIndex ? undefined : walIndex,
  });
}

function createPrivateFile(path: string, logger: Logger | undefined): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // 'a' creates the file with the mode given if it is missing and leaves an existing one alone.
  closeSync(openSync(path, 'a', 0o600));
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    // An existing file someone opened up on purpose (e.g. for a backup group): say so, don't undo it.
    logger?.warn({ store: 'sqlite', path, mode: mode.toString(8) }, 'metadata store file is readable by group or others');
  }
}

/**
 * Kysely's SQLite dialect, except that transactions begin IMMEDIATE (see the module doc) and
 * every query or transaction that wrote commits through `commits`: the connection is held at
 * NORMAL while Kysely has it, and a write resolves once the WAL sync after it is done. The
 * connection is released before that wait, so the next writers commit meanwhile and share the
 * next sync.
 */
function durableSqliteDialect(sqlite: Database.Database, commits: WalGroupCommit): Dialect {
  class DurableSqliteDriver extends SqliteDriver {
    /** Rows changed on the connection when last counted, whether a transaction is open, and whether this holder committed. */
    private changesCounted = 0;
    private transactionOpen = false;
    private rollingBack = false;
    private committed = false;

    override async acquireConnection(): Promise<DatabaseConnection> {
      const connection = await super.acquireConnection();
      let lowered = false;
      try {
        commits.lower();
        lowered = true;
        this.changesCounted = commits.changes();
      } catch (error) {
        if (lowered) commits.restore();
        await super.releaseConnection();
        throw error;
      }
      this.transactionOpen = false;
      this.committed = false;
      return {
        executeQuery: <R>(query: CompiledQuery) => {
          try {
            return connection.executeQuery<R>(query);
          } finally {
            this.countCommit();
          }
        },
        streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
      };
    }

    /**
     * Counts a commit in the same turn as it happens (a statement outside a transaction that
     * changed rows, or a transaction's end), so that no read can see it uncounted (see
     * SqliteMetadataStore.inRequestScope).
     */
    private countCommit(): void {
      if (sqlite.inTransaction) return;
      const changes = commits.changes();
      const committed = this.rollingBack ? false : this.transactionOpen || changes !== this.changesCounted;
      this.transactionOpen = false;
      this.rollingBack = false;
      this.changesCounted = changes;
      if (!committed) return;
      this.committed = true;
      commits.noteCommit();
    }

    override async beginTransaction(connection: DatabaseConnection): Promise<void> {
      // Any transaction counts once it ends: one that only changed the schema (a migration) changes no rows.
      this.transactionOpen = true;
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    }

    override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
      // Nothing to sync: the rows it changed are gone.
      this.rollingBack = true;
      await super.rollbackTransaction(connection);
    }

    override async releaseConnection(): Promise<void> {
      // Read now: once released, the next holder resets it.
      const committed = this.committed;
      try {
        commits.restore();
      } finally {
        await super.releaseConnection();
      }
      if (committed) await commits.durable();
    }
  }
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DurableSqliteDriver({ database: sqlite }),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}
