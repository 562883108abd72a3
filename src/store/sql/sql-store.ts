/**
 * {@link MetadataStore} over Kysely, shared by every SQL database.
 *
 * ## Crash safety
 * The core changes the HSM and the metadata in a fixed order: first the HSM step, which only
 * *produces* something (new material comes back as a blob wrapped under the token's domain
 * key; nothing persistent is created in the token), then one {@link SqlMetadataStore.transaction}
 * that records it. A crash before the commit therefore leaves no row pointing at anything and
 * no orphan object in the token: the wrapped blob existed only in the process's memory and is
 * useless without the token. A crash after the commit leaves a complete record. Destruction
 * goes the other way round and is equally safe: the metadata transaction deletes the rows
 * (versions, aliases, tags, import tokens together with the key), after which the backend only
 * drops cached session handles, which vanish with the process anyway.
 *
 * Concurrent writers are serialised by optimistic concurrency (`KeyRecord.revision`) for
 * keys, by primary keys for everything that must be unique, and by named transaction locks
 * (`holdLock`) where a transaction counts rows and then inserts under a limit.
 */
import type { DatabaseConnection, Dialect, Driver, Kysely, TransactionSettings } from 'kysely';
import type { CaStore } from '../../ca/ports.js';
import { OnDemandContext } from '../../core/on-demand-context.js';
import type { MetadataRepository, MetadataStore } from '../../core/ports.js';
import { SqlCaStore } from './ca-repository.js';
import type { CaDatabase } from './ca-schema.js';
import type { SqlFlavor } from './dialect.js';
import type { MetadataDatabase } from './schema.js';
import { SqlRepository } from './sql-repository.js';

/** Marks the async context of a running `transaction` callback (see {@link TransactionScope}). */
export interface TransactionMark {
  insideCallback: boolean;
}

/**
 * Tracks which async contexts are inside a transaction callback, so that a call going around
 * the transaction's own repository fails at once instead of deadlocking: on SQLite it would
 * wait for the single connection the transaction holds, on PostgreSQL possibly for a row lock
 * the transaction holds. The context is enabled only while a transaction runs, so reads and
 * requests in between make their promises without async hooks (see {@link OnDemandContext}).
 */
export class TransactionScope {
  private readonly storage = new OnDemandContext<TransactionMark>();
  /** Grows each time a query or transaction through Kysely ends (a write of this connection among them). */
  queriesEnded = 0;

  run<T>(fn: (mark: TransactionMark) => Promise<T>): Promise<T> {
    const mark: TransactionMark = { insideCallback: false };
    return this.storage.run(mark, () => fn(mark));
  }

  /** True when the caller runs inside a transaction callback of this store. */
  get active(): boolean {
    return this.storage.getStore()?.insideCallback === true;
  }
}

/**
 * `dialect` with one change: taking a new connection from inside a transaction callback throws.
 * A transaction's own queries never take one (Kysely binds them to the transaction's), so
 * only calls that went around the `tx` repository are refused.
 */
export function guardTransactions(dialect: Dialect, scope: TransactionScope): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new GuardedDriver(dialect.createDriver(), scope),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}

class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly scope: TransactionScope,
  ) {}
  init(): Promise<void> {
    return this.inner.init();
  }
  acquireConnection(): Promise<DatabaseConnection> {
    if (this.scope.active) {
      return Promise.reject(
        new Error('metadata store: used directly inside a transaction callback; use the tx repository it was given'),
      );
    }
    return this.inner.acquireConnection();
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(connection, settings);
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection);
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(connection);
  }
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.scope.queriesEnded++;
    return this.inner.releaseConnection(connection);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

export interface SqlMetadataStoreOptions {
  db: Kysely<MetadataDatabase>;
  flavor: SqlFlavor;
  scope?: TransactionScope;
  /** Called after the database is destroyed (e.g. to remove temporary files). */
  onClose?: () => void;
}

/** A {@link MetadataStore} over any Kysely dialect; the SQLite store adds a fast path on top. */
export class SqlMetadataStore extends SqlRepository implements MetadataStore {
  private readonly scope: TransactionScope;
  private readonly onClose: (() => void) | undefined;
  private closed = false;

  constructor(options: SqlMetadataStoreOptions) {
    super(options.db, options.flavor);
    this.scope = options.scope ?? new TransactionScope();
    this.onClose = options.onClose;
  }

  /**
   * Runs `fn` in one database transaction: it commits when `fn` resolves and rolls back when
   * it throws (the error is re-thrown unchanged). Inside `fn` use only `tx`: the store itself
   * is not part of the transaction, and calling it from inside `fn` throws (if the dialect was
   * wrapped with {@link guardTransactions}, as both stores' are).
   */
  async transaction<T>(fn: (tx: MetadataRepository) => Promise<T>): Promise<T> {
    if (this.scope.active) {
      throw new Error('metadata store: transaction() called inside a transaction callback; use the tx repository it was given');
    }
    return this.scope.run((mark) =>
      this.db.transaction().execute(async (trx) => {
        mark.insideCallback = true;
        try {
          return await fn(new SqlRepository(trx, this.flavor));
        } finally {
          mark.insideCallback = false;
        }
      }),
    );
  }

  /** The private CA's tables, over this store's connection (src/ca/ports.ts). */
  certificateAuthorityStore(): CaStore {
    return new SqlCaStore(this.db as unknown as Kysely<CaDatabase>, this.flavor);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
    this.onClose?.();
  }
}
