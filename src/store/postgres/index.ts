/**
 * The PostgreSQL metadata store, for several hsmkms nodes sharing one database. Everything but
 * the connection and the {@link SqlFlavor} is the shared SQL store; it passes the same contract
 * tests as SQLite (test/store/).
 *
 * Concurrency across nodes: key updates are optimistic (`WHERE revision = n-1`; under READ
 * COMMITTED a concurrent writer waits for the row lock and then finds the revision changed),
 * uniqueness comes from primary keys, and Kysely's migrator takes an advisory lock so that
 * nodes starting together migrate once.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Logger } from '../../core/ports.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { migrateToLatest } from '../sql/migrations/index.js';
import type { MetadataDatabase } from '../sql/schema.js';
import { guardTransactions, SqlMetadataStore, TransactionScope } from '../sql/sql-store.js';

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/db` or libpq key/value settings; the password belongs in PGPASSWORD or ~/.pgpass, not here. */
  connectionString: string;
  /** A schema of its own (created if missing), so one database can hold several independent stores. */
  schema?: string;
  /** Connections per node; SQLite-like workloads need few. */
  maxConnections?: number;
  logger?: Logger;
}

/** SQLSTATE 23505: unique_violation (primary keys included). */
export const postgresFlavor: SqlFlavor = {
  name: 'postgres',
  binaryType: sql`bytea`,
  bigintType: 'bigint',
  isUniqueViolation(error: unknown): boolean {
    return (error as { code?: unknown } | null)?.code === '23505';
  },
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Connects, creates the schema if asked for one, and migrates to the newest schema version. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlMetadataStore> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`postgres metadata store: schema name ${JSON.stringify(options.schema)} must match ${SCHEMA_NAME}`);
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    // Every connection resolves unqualified table names in our schema first.
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', (error) => options.logger?.error({ store: 'postgres', err: error.message }, 'idle database connection failed'));
  const scope = new TransactionScope();
  const db = new Kysely<MetadataDatabase>({ dialect: guardTransactions(new PostgresDialect({ pool }), scope) });
  try {
    if (options.schema) await sql`create schema if not exists ${sql.id(options.schema)}`.execute(db);
    const applied = await migrateToLatest(db as Kysely<unknown>, postgresFlavor, options.schema);
    options.logger?.info({ store: 'postgres', schema: options.schema, migrationsApplied: applied }, 'metadata store opened');
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new SqlMetadataStore({ db, flavor: postgresFlavor, scope });
}
