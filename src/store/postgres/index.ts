/**
 * The PostgreSQL metadata store, for several hsmkms nodes sharing one database. Everything but
 * the connection and the {@link SqlFlavor} is the shared SQL store; it passes the same contract
 * tests as SQLite (test/store/).
 *
 * Concurrency across nodes: key updates are optimistic (`WHERE revision = n-1`; under READ
 * COMMITTED a concurrent writer waits for the row lock and then finds the revision changed),
 * uniqueness comes from primary keys, limits checked by counting (access keys per principal,
 * aliases per key, pending approval requests…) hold a transaction advisory lock named after
 * what they count (`holdLock`, core/locks.ts) while they count and insert, and nodes starting together create the schema and
 * migrate one at a time under an advisory lock (locks.ts). Serving nodes cache what every
 * request reads, coherently across nodes (postgres-store.ts, change-feed.ts).
 */
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Logger } from '../../core/ports.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { migrateToLatest } from '../sql/migrations/index.js';
import type { MetadataDatabase } from '../sql/schema.js';
import { guardTransactions, TransactionScope } from '../sql/sql-store.js';
import { PostgresChangeFeed, type ChangeFeedOptions } from './change-feed.js';
import { clientConfig, describeStoreUrl, type ConnectionSettings } from './connection.js';
import { observeCommits } from './driver.js';
import { namedTransactionLock, withMigrationLock } from './locks.js';
import { PostgresMetadataStore } from './postgres-store.js';

export { PostgresMetadataStore } from './postgres-store.js';
export { PostgresChangeFeed, type ChangeFeedStats } from './change-feed.js';
export { storeUrlProblem, describeStoreUrl, SCHEMA_NAME } from './connection.js';

export interface PostgresStoreOptions extends ConnectionSettings {
  /** Connections per node (default 10); requests beyond it queue for one. */
  maxConnections?: number;
  logger?: Logger;
  /**
   * Cache what every request reads, kept coherent across nodes by a LISTEN connection (see
   * change-feed.ts for the bounds). `serve` turns it on; short-lived commands read through.
   */
  changeFeed?: boolean | Pick<ChangeFeedOptions, 'checkIntervalMs' | 'checkTimeoutMs' | 'graceMs'>;
}

/** SQLSTATE 23505: unique_violation (primary keys included). */
export const postgresFlavor: SqlFlavor = {
  name: 'postgres',
  lockRowsForUpdate: true,
  transactionLock: namedTransactionLock,
  binaryType: sql`bytea`,
  bigintType: 'bigint',
  isUniqueViolation(error: unknown): boolean {
    return (error as { code?: unknown } | null)?.code === '23505';
  },
};

/** Connects, creates the schema if asked for one, and migrates to the newest schema version. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresMetadataStore> {
  const settings: ConnectionSettings = {
    connectionString: options.connectionString,
    schema: options.schema,
    statementTimeoutMs: options.statementTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
  };
  // Validates the URL (no password in it) and the schema name before anything connects.
  const config = clientConfig(settings);
  const where = { store: 'postgres', url: describeStoreUrl(options.connectionString), schema: options.schema };

  const applied = await withMigrationLock(settings, async () => {
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...config, max: 1 }) }) });
    try {
      return await migrateToLatest(db, postgresFlavor, options.schema);
    } finally {
      await db.destroy();
    }
  });

  const feed = options.changeFeed
    ? await PostgresChangeFeed.open({ ...settings, logger: options.logger, ...(typeof options.changeFeed === 'object' ? options.changeFeed : {}) })
    : undefined;
  const pool = new pg.Pool({ ...config, max: options.maxConnections ?? 10 });
  pool.on('error', (error) => options.logger?.warn({ ...where, err: error.message }, 'idle database connection failed'));
  const scope = new TransactionScope();
  let store: PostgresMetadataStore | undefined;
  const dialect = observeCommits(new PostgresDialect({ pool }), () => store?.localCommit());
  const db = new Kysely<MetadataDatabase>({ dialect: guardTransactions(dialect, scope) });
  store = new PostgresMetadataStore({ db, flavor: postgresFlavor, scope, settings, feed, logger: options.logger });
  options.logger?.info({ ...where, migrationsApplied: applied, caches: feed !== undefined }, 'metadata store opened');
  return store;
}
