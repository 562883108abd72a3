/**
 * The SQLite store: the shared SQL store plus a fast path for the two reads on every
 * Encrypt/Decrypt/Sign request (the key, and its key material's version). Kysely builds and
 * better-sqlite3 prepares a statement on each call; here the statements are compiled and
 * prepared once and run synchronously, and their results are kept in a small cache that is
 * never stale (see {@link ChangeToken}). A key read from disk comes with its current version in
 * one statement, so a request on a key outside the cache reads the database once, not twice.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { KeyMaterialVersion, KeyRecord } from '../../core/model.js';
import { cachedCopy } from '../sql/cached-copies.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { rowToKey, rowToVersion } from '../sql/rows.js';
import type { PrincipalAuthorization } from '../../core/authorization/repository.js';
import { principalAuthorizationQuery, toPrincipalAuthorization, type PrincipalAuthorizationRow } from '../sql/authorization-sql.js';
import type { KeysTable, KeyVersionsTable, MetadataDatabase, QuorumRulesTable } from '../sql/schema.js';
import type { QuorumRuleRecord } from '../../core/quorum/quorum.js';
import type { RequestReadScope } from '../../core/ports.js';
import { quorumRulesQuery, rowToRule } from '../sql/quorum-sql.js';
import { SqlMetadataStore, type TransactionScope } from '../sql/sql-store.js';
import type { CaStore } from '../../ca/ports.js';
import type { CaDatabase } from '../sql/ca-schema.js';
import type { WalGroupCommit } from './group-commit.js';
import { recall, remember } from './bounded-cache.js';
import { SqliteCaStore } from './sqlite-ca-store.js';
import type { WalIndexWatch } from './wal-index.js';

export interface SqliteMetadataStoreOptions {
  db: Kysely<MetadataDatabase>;
  sqlite: Database;
  flavor: SqlFlavor;
  scope: TransactionScope;
  /** The connection's group commit, which the dialect of `db` commits through too (index.ts). */
  commits: WalGroupCommit;
  /** Entries of each read cache (default {@link READ_CACHE_ENTRIES}). */
  readCacheEntries?: number;
  /** The connection's WAL-index header, when mapped (wal-index.ts): commit checks then run SQL only when it moved. */
  walIndex?: WalIndexWatch;
}

/**
 * Key rows, key-version rows and principals kept by the read cache, each, least recently used
 * dropped first: the keys in use stay while a scan over 100,000 keys (AWS's quota per region)
 * cannot grow the worker's memory. A row missed costs one prepared point read (~10–20 µs).
 */
export const READ_CACHE_ENTRIES = 16_384;

/**
 * What must be unchanged for cached rows to still be the rows on disk: `PRAGMA data_version`
 * changes whenever another connection (another worker, the CLI) commits, and
 * `total_changes()` grows with every row this connection writes. Both come from one statement;
 * while no query of this connection has ended since, only `data_version` can have changed, and
 * `PRAGMA data_version` alone is read (~4–5 µs of CPU, half of it system time: every read
 * transaction takes and drops a WAL lock and stats the file). Where SQLite's WAL-index header is
 * mapped (wal-index.ts), neither statement runs while the header is the one seen before the last
 * check: no connection has committed since, at the cost of a dozen memory reads. While API calls
 * are in progress ({@link SqliteMetadataStore.inRequestScope}) a check runs at most once per call
 * instead of once per read.
 */
interface ChangeToken {
  dataVersion: number;
  totalChanges: number;
  /** {@link TransactionScope.queriesEnded} when the token was read. */
  queriesEnded: number;
}

/** {@link SqliteMetadataStore}'s key read: the key row, and its current version's columns prefixed `v_` (all null without one). */
type VersionColumns = Selectable<KeyVersionsTable>;
type KeyWithCurrentVersionRow = Selectable<KeysTable> & {
  v_version_id: string | null;
  v_created_at: VersionColumns['created_at'] | null;
  v_wrapped_material: VersionColumns['wrapped_material'] | null;
  v_public_key: VersionColumns['public_key'];
  v_rotation_type: VersionColumns['rotation_type'];
};

/** The version cache's key. Length-prefixed: ids from a ciphertext are the client's, and must not collide. */
function versionCacheId(keyId: string, versionId: string): string {
  return `${keyId.length}:${keyId}${versionId}`;
}

/**
 * A function turning a statement's columns (better-sqlite3's `raw()` arrays) into a row object
 * with one fixed shape. For the 25 columns of the key read this costs ~7 µs less per read than
 * better-sqlite3's own row objects, which it builds property by property (measured on 100,000
 * keys, 2026-12-01). The names come from the schema; anything but a plain identifier falls back
 * to a loop.
 */
function rowFromColumns<R>(names: string[]): (columns: unknown[]) => R {
  if (names.every((n) => /^[a-z_][a-z0-9_]*$/.test(n)) && new Set(names).size === names.length)
    return new Function('c', `return { ${names.map((n, i) => `${n}: c[${i}]`).join(', ')} };`) as (columns: unknown[]) => R;
  return (columns) => Object.fromEntries(names.map((n, i) => [n, columns[i]])) as R;
}

export class SqliteMetadataStore extends SqlMetadataStore implements RequestReadScope {
  private readonly sqlite: Database;
  private readonly txScope: TransactionScope;
  /** API calls begun so far ({@link inRequestScope}), and how many of them have not ended. */
  private callsBegun = 0;
  private callsInProgress = 0;
  /** {@link callsBegun} when the cache was last validated. */
  private validatedAtCall = -1;
  /** A key row and its current version's columns (`v_…`, null when it has none), in one statement. */
  private readonly keyById: Statement<[string], unknown[]>;
  /** {@link keyById}'s columns, as a row object ({@link rowFromColumns}). */
  private readonly keyRow: (columns: unknown[]) => KeyWithCurrentVersionRow;
  private readonly versionById: Statement<[string, string], Selectable<KeyVersionsTable>>;
  private readonly changeToken: Statement<[], [number, number]>;
  private readonly dataVersion: Statement<[], number>;
  /**
   * Committed key and key-version records by id, valid while {@link ChangeToken} is the one
   * they were read under: any commit by any connection empties them before the next read, so
   * a key disabled through another worker is refused on that worker's very next request.
   */
  private readonly keyCache = new Map<string, KeyRecord>();
  private readonly versionCache = new Map<string, KeyMaterialVersion>();
  /** Principals' roles, policies, tags and access-key status, by principal and access key. */
  private readonly principalCache = new Map<string, PrincipalAuthorization | null>();
  private readonly principalAuthorization: { statement: Statement<unknown[], PrincipalAuthorizationRow>; params: (arn: string, accessKeyId: string) => unknown[] };
  /** Every quorum rule: read by every allowed call, so kept like the rows above. */
  private quorumRules: QuorumRuleRecord[] | undefined;
  private readonly quorumRulesStatement: Statement<unknown[], Selectable<QuorumRulesTable>>;
  private readonly quorumRulesParameters: unknown[];
  private cacheToken: ChangeToken = { dataVersion: -1, totalChanges: -1, queriesEnded: -1 };
  /** How many times the read caches were emptied: what the CA store's own cache is valid under. */
  private cacheClears = 0;
  private readonly caStore: SqliteCaStore;
  private readonly cacheEntries: number;
  private readonly commits: WalGroupCommit;
  private readonly walIndex: WalIndexWatch | undefined;
  /** Commit checks that ran SQL (the rest were answered by the WAL-index header): for tests. */
  private sqlCommitChecks = 0;

  constructor(options: SqliteMetadataStoreOptions) {
    super({ db: options.db, flavor: options.flavor, scope: options.scope });
    this.sqlite = options.sqlite;
    this.txScope = options.scope;
    this.commits = options.commits;
    this.walIndex = options.walIndex;
    this.cacheEntries = options.readCacheEntries ?? READ_CACHE_ENTRIES;
    if (!Number.isInteger(this.cacheEntries) || this.cacheEntries < 1) throw new RangeError('readCacheEntries must be a positive integer');
    // Compiled by Kysely (so the SQL stays in one dialect-aware place), prepared once.
    const keySql = options.db
      .selectFrom('keys')
      .leftJoin('key_versions as v', (join) => join.onRef('v.key_id', '=', 'keys.key_id').onRef('v.version_id', '=', 'keys.current_version_id'))
      .selectAll('keys')
      .select(['v.version_id as v_version_id', 'v.created_at as v_created_at', 'v.wrapped_material as v_wrapped_material', 'v.public_key as v_public_key', 'v.rotation_type as v_rotation_type'])
      .where('keys.key_id', '=', '')
      .compile().sql;
    const versionSql = options.db
      .selectFrom('key_versions')
      .selectAll()
      .where('key_id', '=', '')
      .where('version_id', '=', '')
      .compile().sql;
    this.keyById = this.sqlite.prepare<[string], unknown[]>(keySql).raw();
    this.keyRow = rowFromColumns(this.keyById.columns().map((c) => c.name));
    this.versionById = this.sqlite.prepare(versionSql);
    // The parameters' order is the compiler's: compile with markers and map them back.
    const ARN = '\u0000arn';
    const compiled = principalAuthorizationQuery(options.db, ARN, '\u0000access-key').compile();
    const fromArn = compiled.parameters.map((p) => p === ARN);
    this.principalAuthorization = {
      statement: this.sqlite.prepare(compiled.sql),
      params: (arn, accessKeyId) => fromArn.map((isArn) => (isArn ? arn : accessKeyId)),
    };
    const rulesQuery = quorumRulesQuery(options.db).compile();
    this.quorumRulesStatement = this.sqlite.prepare(rulesQuery.sql);
    this.quorumRulesParameters = [...rulesQuery.parameters];
    this.changeToken = this.sqlite.prepare<[], [number, number]>('SELECT data_version, total_changes() FROM pragma_data_version').raw();
    this.dataVersion = this.sqlite.prepare<[], number>('PRAGMA data_version').pluck();
    this.caStore = new SqliteCaStore(options.db as unknown as Kysely<CaDatabase>, options.flavor, options.sqlite, options.commits, {
      now: () => this.commitsChecked(),
      inCall: () => this.commitsCheckedInCall(),
    });
  }

  /** The private CA's tables, with their per-issuance reads prepared once (sqlite-ca-store.ts). */
  override certificateAuthorityStore(): CaStore {
    return this.caStore;
  }

  override async close(): Promise<void> {
    // Before the connection: see wal-index.ts.
    this.walIndex?.close();
    await super.close();
    await this.commits.close();
  }

  /**
   * Runs `fn` (one API call) so that its reads check for commits at most once: a read validates
   * the cache unless it was validated after the last call began and no query of this connection
   * (a write of its own) has ended since. Every call's first read is therefore preceded by a
   * check made after the call began, and a commit by another worker lands before that worker
   * answers, so a call that starts after that answer sees it. Reads while no call is in
   * progress check every time; a read outside any call (a background job) while calls are in
   * progress sees every commit made before the newest call began.
   *
   * Counters rather than an AsyncLocalStorage per call: on Node 20 an enabled AsyncLocalStorage
   * puts hooks on every promise the process makes (see core/on-demand-context.ts). Concurrent
   * calls share checks: a check made after the newest call began serves all calls in progress.
   *
   * A call answers only once the commits it may have seen are on disk: a commit is visible as
   * soon as it is in the WAL, up to one group-commit sync before it is durable (group-commit.ts),
   * so a call that ends while one is pending waits for that sync — whether it succeeded or
   * failed (a refusal read from a commit is an answer too), and for a commit another worker made
   * after the call's first check (a later read of the call may have seen it). Once a sync has
   * failed, calls are refused.
   */
  async inRequestScope<T>(fn: () => Promise<T>): Promise<T> {
    this.commits.refuseIfFailed();
    this.callsBegun++;
    this.callsInProgress++;
    try {
      let result: T;
      try {
        result = await fn();
      } catch (error) {
        // A failed sync replaces the call's own error: what it read may not be on disk.
        await this.seenCommitsDurable();
        throw error;
      }
      await this.seenCommitsDurable();
      return result;
    } finally {
      this.callsInProgress--;
    }
  }

  /** Resolves once every commit a call may have read (its own, any other connection's made so far) is on disk. */
  private async seenCommitsDurable(): Promise<void> {
    if (!this.sqlite.open) return;
    // Inside another holder's transaction the change token would count its uncommitted rows: note only.
    if (!this.sqlite.inTransaction) this.checkForCommits(this.txScope.queriesEnded);
    else if (!this.walIndex?.unchanged() && this.dataVersion.get() !== this.cacheToken.dataVersion) this.commits.noteCommit();
    if (this.commits.pending) await this.commits.durable();
  }

  /** Empties the read cache if anything was committed since it was filled. */
  private validateCache(): void {
    const queriesEnded = this.txScope.queriesEnded;
    if (this.callsInProgress > 0 && this.validatedAtCall === this.callsBegun && this.cacheToken.queriesEnded === queriesEnded) return;
    this.checkForCommits(queriesEnded);
    // Only once the check has succeeded: a read whose check threw must not leave the next one trusting it.
    this.validatedAtCall = this.callsBegun;
  }

  private checkForCommits(queriesEnded: number): void {
    // No query of this connection has ended since the token was read, so none of its own
    // writes can have committed since: only another connection's commit can matter, and none
    // has while the WAL-index header is the one read before the token's check (wal-index.ts).
    const ownQueriesEnded = queriesEnded !== this.cacheToken.queriesEnded;
    if (!ownQueriesEnded && this.walIndex?.unchanged()) return;
    this.sqlCommitChecks++;
    // Before the SQL: a commit between the two moves the header again and is checked next time.
    this.walIndex?.mark();
    if (!ownQueriesEnded && this.dataVersion.get() === this.cacheToken.dataVersion) {
      this.walIndex?.confirm();
      return;
    }
    const [dataVersion, totalChanges] = this.changeToken.get()!;
    this.walIndex?.confirm();
    if (dataVersion === this.cacheToken.dataVersion && totalChanges === this.cacheToken.totalChanges) {
      this.cacheToken.queriesEnded = queriesEnded;
      return;
    }
    // Another connection committed: its frames may not be synced yet (see inRequestScope).
    if (dataVersion !== this.cacheToken.dataVersion) this.commits.noteCommit();
    this.keyCache.clear();
    this.versionCache.clear();
    this.quorumRules = undefined;
    this.principalCache.clear();
    this.cacheClears++;
    this.cacheToken = { dataVersion, totalChanges, queriesEnded };
  }

  /** For `/health`: not healthy once a WAL sync has failed (group-commit.ts), so a load balancer skips this node. */
  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      this.commits.refuseIfFailed();
      return { ok: true };
    } catch (error) {
      return { ok: false, detail: (error as Error).message };
    }
  }

  /**
   * Checks for commits now, whatever calls are in progress (the CA's reads also serve OCSP and
   * CRL requests, which no API call scope covers), and returns {@link cacheClears}: rows read
   * under the same count are still the rows on disk.
   */
  private commitsChecked(): number {
    this.checkForCommits(this.txScope.queriesEnded);
    return this.cacheClears;
  }

  /** {@link commitsChecked} for a read inside an API call ({@link inRequestScope}): checked once per call, as key reads are. */
  private commitsCheckedInCall(): number {
    this.validateCache();
    return this.cacheClears;
  }

  /** How commits by other connections are detected, and how many checks ran SQL so far: for diagnostics and tests. */
  commitChecks(): { by: 'wal-index' | 'data_version'; sqlChecks: number } {
    return { by: this.walIndex ? 'wal-index' : 'data_version', sqlChecks: this.sqlCommitChecks };
  }

  /** The connection settings in force, for diagnostics and tests. */
  connectionSettings(): { journalMode: string; synchronous: 'off' | 'normal' | 'full' | 'extra'; busyTimeoutMs: number; foreignKeys: boolean } {
    const levels = ['off', 'normal', 'full', 'extra'] as const;
    return {
      journalMode: String(this.sqlite.pragma('journal_mode', { simple: true })),
      synchronous: levels[Number(this.sqlite.pragma('synchronous', { simple: true }))] ?? 'full',
      busyTimeoutMs: Number(this.sqlite.pragma('busy_timeout', { simple: true })),
      foreignKeys: Number(this.sqlite.pragma('foreign_keys', { simple: true })) === 1,
    };
  }

  /**
   * Synchronous read when the connection is idle. While a transaction is open on the (single)
   * connection a direct read would see its uncommitted writes, so it queues behind the
   * transaction through Kysely instead.
   */
  override async getKey(keyId: string): Promise<KeyRecord | undefined> {
    if (this.sqlite.inTransaction || !this.sqlite.open) return super.getKey(keyId);
    this.validateCache();
    let key = recall(this.keyCache, keyId);
    if (!key) {
      const columns = this.keyById.get(keyId);
      if (!columns) return undefined;
      const row = this.keyRow(columns);
      key = rowToKey(row);
      remember(this.keyCache, keyId, key, this.cacheEntries);
      // The current version, read with the key under the same check: the request's next read.
      if (row.v_version_id !== null) {
        const id = versionCacheId(keyId, row.v_version_id);
        if (!this.versionCache.has(id))
          remember(
            this.versionCache,
            id,
            rowToVersion({ key_id: row.key_id, version_id: row.v_version_id, created_at: row.v_created_at!, wrapped_material: row.v_wrapped_material!, public_key: row.v_public_key, rotation_type: row.v_rotation_type }),
            this.cacheEntries,
          );
      }
    }
    return cachedCopy.key(key);
  }

  override async getKeyVersion(keyId: string, versionId: string): Promise<KeyMaterialVersion | undefined> {
    if (this.sqlite.inTransaction || !this.sqlite.open) return super.getKeyVersion(keyId, versionId);
    this.validateCache();
    const id = versionCacheId(keyId, versionId);
    let version = recall(this.versionCache, id);
    if (!version) {
      const row = this.versionById.get(keyId, versionId);
      if (!row) return undefined;
      version = rowToVersion(row);
      remember(this.versionCache, id, version, this.cacheEntries);
    }
    return cachedCopy.version(version);
  }

  /**
   * Read on every request by the authorizer, so served from the same never-stale cache as keys:
   * a role, policy or access-key change committed by any worker or the CLI is seen next request.
   */
  override async getPrincipalAuthorization(arn: string, accessKeyId?: string): Promise<PrincipalAuthorization | undefined> {
    if (this.sqlite.inTransaction || !this.sqlite.open) return super.getPrincipalAuthorization(arn, accessKeyId);
    this.validateCache();
    const id = `${arn.length}:${arn}${accessKeyId ?? ''}`;
    let found = recall(this.principalCache, id);
    if (found === undefined) {
      const rows = this.principalAuthorization.statement.all(...this.principalAuthorization.params(arn, accessKeyId ?? ''));
      found = toPrincipalAuthorization(arn, rows) ?? null;
      remember(this.principalCache, id, found, this.cacheEntries);
    }
    return found === null ? undefined : cachedCopy.principalAuthorization(found);
  }

  /** Every allowed call asks whether a quorum rule guards it: usually none, from memory. */
  override async listQuorumRules(): Promise<QuorumRuleRecord[]> {
    if (this.sqlite.inTransaction || !this.sqlite.open) return super.listQuorumRules();
    this.validateCache();
    this.quorumRules ??= this.quorumRulesStatement.all(...this.quorumRulesParameters).map(rowToRule);
    return cachedCopy.quorumRules(this.quorumRules);
  }
}
