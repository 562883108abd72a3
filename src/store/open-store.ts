/**
 * Opens the metadata store a configuration names — SQLite in the data directory (one machine,
 * the default) or a PostgreSQL database shared by several nodes — together with what scale-out
 * needs from it: the change bus caches subscribe to, the scheduler's lease, and a health check.
 */
import { join } from 'node:path';
import type { CaStore } from '../ca/ports.js';
import { LocalInvalidationBus, type InvalidationBus } from '../core/invalidation.js';
import { soleLeader, type LeaderLease } from '../core/leader-lease.js';
import type { Logger, MetadataStore } from '../core/ports.js';
import { openSqliteStore } from './sqlite/index.js';

/** Where the metadata lives. */
export type StoreConfig =
  | { kind: 'sqlite' }
  | {
      kind: 'postgres';
      /** `postgres://user@host:port/db`, without a password (PGPASSWORD or ~/.pgpass hold it). */
      url: string;
      /** A schema of its own in the database (created if missing). */
      schema?: string | undefined;
      /** Connections per node (default 10). */
      maxConnections?: number | undefined;
    };

export interface OpenedStore {
  store: MetadataStore;
  caStore: CaStore;
  /**
   * Changes committed by any node. SQLite: an in-process bus (its read cache checks the file's
   * data version on every read, and only this machine writes); PostgreSQL: the change feed.
   */
  changes: InvalidationBus;
  /** A lease for the scheduler: always held on SQLite, an advisory lock on PostgreSQL. */
  leaderLease(): LeaderLease;
  /** Whether the store answers now (for `/health`). */
  health(): Promise<{ ok: boolean; detail?: string }>;
  close(): Promise<void>;
}

/**
 * Opens the store. `serving`: a long-running node that caches reads (with PostgreSQL, this
 * opens the change feed that keeps the caches coherent); commands that run and exit read through.
 */
export async function openStore(config: StoreConfig | undefined, options: { dataDir: string; logger: Logger; serving?: boolean }): Promise<OpenedStore> {
  const logger = options.logger.child({ component: 'store' });
  if (config?.kind === 'postgres') {
    // Loaded only when asked for: the embedded default does not pay for the PostgreSQL driver.
    const { openPostgresStore } = await import('./postgres/index.js');
    const store = await openPostgresStore({
      connectionString: config.url,
      schema: config.schema,
      maxConnections: config.maxConnections,
      logger,
      changeFeed: options.serving === true,
    });
    return {
      store,
      caStore: store.certificateAuthorityStore(),
      changes: store.changes ?? new LocalInvalidationBus(),
      leaderLease: () => store.leaderLease(),
      health: () => store.health(),
      close: () => store.close(),
    };
  }
  const store = await openSqliteStore({ path: join(options.dataDir, 'hsmkms.sqlite'), logger });
  return {
    store,
    caStore: store.certificateAuthorityStore(),
    changes: new LocalInvalidationBus(),
    leaderLease: () => soleLeader,
    health: () => store.health(),
    close: () => store.close(),
  };
}
