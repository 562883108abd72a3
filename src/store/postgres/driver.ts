/**
 * Kysely's PostgreSQL dialect with two additions, both about what the rest of the service may
 * assume of the store:
 *
 * - **Local commits are known at once.** After a statement that changed rows a read cache may
 *   hold commits (on its own, or with its transaction), `onCommit` runs before the caller hears
 *   of it, so this node's read cache is emptied before its next request — the change feed tells
 *   the other nodes a few milliseconds later, and this one too. Writes to tables the feed does
 *   not announce (scheduler bookkeeping, import tokens, approvals) and statements that matched
 *   no row leave the cache alone: the scheduler's pass every second must not empty it.
 * - **An unreachable database is one error.** Failures that mean "the database is not there or
 *   did not answer" (refused or dropped connections, a server shutting down, timeouts) become
 *   {@link StoreUnavailableError}s, which clients see as retryable KMSInternalException or
 *   DependencyTimeoutException instead of a bug.
 */
import { AliasNode, DeleteQueryNode, InsertQueryNode, TableNode, UpdateQueryNode, type OperationNode } from 'kysely';
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { KmsError } from '../../core/errors.js';
import { StoreUnavailableError } from '../../core/store-error.js';
import { CHANGE_TRIGGERS } from '../sql/migrations/0008-change-feed.js';

/** SQLSTATEs that mean the database, not the statement, failed. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '25P03', '57014']);
/** Node's socket errors on the way to the database. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/** `pg`'s own words for a connection that broke or never came (it gives them no code). */
const PG_CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|is not queryable|Query read timeout|connection timeout/i;

/** The unavailability `error` means, or undefined when it is something else (a constraint, a bug). */
export function unavailability(error: unknown): StoreUnavailableError | undefined {
  if (error instanceof StoreUnavailableError) return error;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  const state = typeof code === 'string' ? code : '';
  const timeout = state === '57014' || state === 'ETIMEDOUT' || /timeout/i.test(text);
  if (UNAVAILABLE_STATES.has(state) || state.startsWith('08') || SOCKET_ERRORS.has(state) || PG_CONNECTION_MESSAGES.test(text))
    return new StoreUnavailableError(`postgres metadata store: ${text || state}`, timeout, { cause: error });
  return undefined;
}

function translated(error: unknown): unknown {
  return unavailability(error) ?? error;
}

/**
 * PostgreSQL text cannot hold U+0000, and a parameter holding one fails the whole statement —
 * where SQLite, the embedded store, just compares it. Callers control ids (a fuzzer's KeyId
 * `a\u0000`), so such a parameter must give the answer it means, not an internal error: no
 * stored row can match it, so a read or delete finds nothing; a value to be written is refused.
 */
function withNul(query: CompiledQuery): boolean {
  return query.parameters.some((p) => typeof p === 'string' && p.includes('\u0000'));
}

const NOTHING: QueryResult<never> = { rows: [], numAffectedRows: 0n };

/** The tables whose rows read caches hold: those whose changes the feed announces. */
const ANNOUNCED_TABLES = new Set(CHANGE_TRIGGERS.map((t) => t.table));

/** The one table a write names, or undefined when it is not a plain single-table write. */
function writtenTable(node: OperationNode): string | undefined {
  const named = (target: OperationNode | undefined) => {
    const table = target && AliasNode.is(target) ? target.node : target;
    return table && TableNode.is(table) ? table.table.identifier.name : undefined;
  };
  if (InsertQueryNode.is(node)) return named(node.into);
  if (UpdateQueryNode.is(node)) return named(node.table);
  if (DeleteQueryNode.is(node)) return node.from.froms.length === 1 ? named(node.from.froms[0]) : undefined;
  return undefined;
}

/** Whether `query`, which gave `result`, may have changed a row that a read cache holds. */
function changesCachedRows(query: CompiledQuery, result: QueryResult<unknown>): boolean {
  const node = query.query;
  if (node.kind === 'SelectQueryNode') return false;
  // Raw SQL and multi-table writes may change anything.
  const table = writtenTable(node);
  if (table === undefined) return true;
  return ANNOUNCED_TABLES.has(table) && result.numAffectedRows !== 0n;
}

class ObservedConnection implements DatabaseConnection {
  /** Inside a transaction: whether it wrote anything yet. */
  transaction: { wrote: boolean } | undefined;

  constructor(
    readonly inner: DatabaseConnection,
    private readonly onCommit: () => void,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (withNul(query)) {
      const kind = query.query.kind;
      if (kind === 'SelectQueryNode' || kind === 'DeleteQueryNode') return NOTHING;
      throw new KmsError('ValidationException', 'A value contains the character U+0000, which cannot be stored.');
    }
    let result: QueryResult<R>;
    try {
      result = await this.inner.executeQuery<R>(query);
    } catch (error) {
      throw translated(error);
    }
    if (changesCachedRows(query, result)) {
      if (this.transaction) this.transaction.wrote = true;
      else this.onCommit();
    }
    return result;
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    // Streams are read-only here (the store never streams a write).
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class ObservedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly onCommit: () => void,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new ObservedConnection(await this.inner.acquireConnection(), this.onCommit);
    } catch (error) {
      throw translated(error);
    }
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const observed = connection as ObservedConnection;
    try {
      await this.inner.beginTransaction(observed.inner, settings);
    } catch (error) {
      throw translated(error);
    }
    observed.transaction = { wrote: false };
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const observed = connection as ObservedConnection;
    const wrote = observed.transaction?.wrote === true;
    observed.transaction = undefined;
    try {
      await this.inner.commitTransaction(observed.inner);
    } catch (error) {
      // A commit whose answer was lost may have happened: empty the cache anyway.
      if (wrote) this.onCommit();
      throw translated(error);
    }
    if (wrote) this.onCommit();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const observed = connection as ObservedConnection;
    observed.transaction = undefined;
    try {
      await this.inner.rollbackTransaction(observed.inner);
    } catch (error) {
      throw translated(error);
    }
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection((connection as ObservedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** `dialect` with local commits reported to `onCommit` and unavailability translated (see the module doc). */
export function observeCommits(dialect: Dialect, onCommit: () => void): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new ObservedDriver(dialect.createDriver(), onCommit),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
