/**
 * Session advisory locks of the PostgreSQL store: the scheduler's lease and the lock around
 * first-start work (schema creation and migrations). Both are keyed by the store's schema, so
 * independent stores in one database (`--store-schema`) do not contend.
 *
 * A session lock belongs to its connection: it is released when the holder unlocks, or when
 * its connection ends for any reason — a node killed with `kill -9` loses it as soon as the
 * server sees the socket close, so another node takes over without waiting for a timeout.
 */
import pg from 'pg';
import { sql, type RawBuilder } from 'kysely';
import { withDeadline } from '../../core/deadline.js';
import type { LeaderLease } from '../../core/leader-lease.js';
import type { Logger } from '../../core/ports.js';
import { clientConfig, type ConnectionSettings } from './connection.js';

/** The first half of the two-int advisory lock keys: "hsmk", then one per purpose. */
const LOCK_CLASS = { migrate: 0x68736d01, scheduler: 0x68736d02, named: 0x68736d03 } as const;

const lockArgs = (purpose: keyof typeof LOCK_CLASS) => [LOCK_CLASS[purpose]];
/** The second half: the store's schema (the connection's search_path puts it first). */
const LOCK_KEY = 'hashtext(current_schema())';

/**
 * A transaction lock on `name` (MetadataRepository.holdLock), keyed by the store's schema and
 * the name: two names that hash alike only take turns needlessly.
 */
export function namedTransactionLock(name: string): RawBuilder<unknown> {
  return sql`pg_advisory_xact_lock(${sql.lit(LOCK_CLASS.named)}, hashtext(current_schema() || ':' || ${name}))`;
}

/** Runs `fn` holding the store's first-start lock, waiting for another node that holds it. */
export async function withMigrationLock<T>(settings: ConnectionSettings, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig({ ...settings, applicationName: 'hsmkms-migrate', statementTimeoutMs: 0 }));
  client.on('error', () => undefined);
  await client.connect();
  try {
    if (settings.schema) await client.query(`create schema if not exists ${settings.schema}`).catch(async (error: unknown) => {
      // Two nodes creating it at once: one wins, the other sees a duplicate; both go on.
      if ((error as { code?: string }).code !== '23505' && (error as { code?: string }).code !== '42P06') throw error;
    });
    await client.query(`select pg_advisory_lock($1, ${LOCK_KEY})`, lockArgs('migrate'));
    try {
      return await fn();
    } finally {
      await client.query(`select pg_advisory_unlock($1, ${LOCK_KEY})`, lockArgs('migrate')).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The scheduler's lease: a session advisory lock on a connection of its own. {@link acquire}
 * tries the lock without waiting; once held, each call proves the connection (and so the lock)
 * is still alive. Any failure of that connection counts as having lost the lease.
 */
export class PostgresLeaderLease implements LeaderLease {
  private client: pg.Client | undefined;
  private held = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly logger?: Logger,
    /** How long a check of the lease connection may take (default 2 s). */
    private readonly timeoutMs = 2_000,
  ) {}

  async acquire(): Promise<boolean> {
    try {
      const client = this.client ?? (await this.connect());
      if (this.held) {
        await this.query(client, 'select 1');
        return true;
      }
      const { rows } = await this.query<{ ok: boolean }>(client, `select pg_try_advisory_lock($1, ${LOCK_KEY}) as ok`, lockArgs('scheduler'));
      this.held = rows[0]?.ok === true;
      if (this.held) this.logger?.info({ store: 'postgres' }, 'this node now runs the scheduled work');
      return this.held;
    } catch (error) {
      this.drop(error as Error);
      return false;
    }
  }

  async stillHeld(): Promise<boolean> {
    const client = this.client;
    if (!this.held || !client) return false;
    try {
      await this.query(client, 'select 1');
      return true;
    } catch (error) {
      this.drop(error as Error);
      return false;
    }
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    const held = this.held;
    this.held = false;
    if (!client) return;
    if (held) await client.query(`select pg_advisory_unlock($1, ${LOCK_KEY})`, lockArgs('scheduler')).catch(() => undefined);
    await client.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client(clientConfig({ ...this.settings, applicationName: 'hsmkms-scheduler' }));
    client.on('error', (error) => this.drop(error, client));
    await client.connect().catch(async (error: unknown) => {
      await client.end().catch(() => undefined);
      throw error;
    });
    this.client = client;
    return client;
  }

  private query<R extends pg.QueryResultRow>(client: pg.Client, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return withDeadline(client.query<R>(text, values), Date.now() + this.timeoutMs, () => new Error(`the lease connection did not answer within ${this.timeoutMs} ms`));
  }

  /** The lease connection failed: whatever it held is gone (the server releases it with the session). */
  private drop(error: Error, client = this.client): void {
    if (!client || client !== this.client) return;
    if (this.held) this.logger?.warn({ store: 'postgres', err: error.message }, 'scheduler lease lost with its connection');
    this.client = undefined;
    this.held = false;
    void client.end().catch(() => undefined);
  }
}
