/**
 * The PostgreSQL store as nodes serve from it: the shared SQL store, plus a read cache of the
 * rows every request reads — keys, key versions, a principal's authorization, the quorum
 * rules — kept coherent across nodes by the change feed (change-feed.ts), and emptied at once
 * by this node's own commits (driver.ts), so that a change is refused immediately on the node
 * that made it and within the feed's bound everywhere else.
 *
 * These are the same four reads the SQLite store keeps (src/store/sqlite/sqlite-store.ts);
 * everything else is read from the database each time. Without a feed (the offline CLI, the
 * contract tests) nothing is cached.
 */
import type { Kysely } from 'kysely';
import type { PrincipalAuthorization } from '../../core/authorization/repository.js';
import { CoherentCache, type InvalidationBus } from '../../core/invalidation.js';
import type { LeaderLease } from '../../core/leader-lease.js';
import type { KeyMaterialVersion, KeyRecord } from '../../core/model.js';
import type { Logger } from '../../core/ports.js';
import type { QuorumRuleRecord } from '../../core/quorum/quorum.js';
import { cachedCopy } from '../sql/cached-copies.js';
import type { SqlFlavor } from '../sql/dialect.js';
import type { MetadataDatabase } from '../sql/schema.js';
import { SqlMetadataStore, type TransactionScope } from '../sql/sql-store.js';
import type { PostgresChangeFeed } from './change-feed.js';
import type { ConnectionSettings } from './connection.js';
import { unavailability } from './driver.js';
import { PostgresLeaderLease } from './locks.js';
import { sql } from 'kysely';
import { withDeadline } from '../../core/deadline.js';

/** Rows of each kind kept per node (as the SQLite store's read cache). */
export const READ_CACHE_ENTRIES = 16_384;

interface ReadCache {
  keys: CoherentCache<KeyRecord>;
  versions: CoherentCache<KeyMaterialVersion>;
  principals: CoherentCache<PrincipalAuthorization>;
  quorumRules: CoherentCache<QuorumRuleRecord[]>;
}

export interface PostgresMetadataStoreOptions {
  db: Kysely<MetadataDatabase>;
  flavor: SqlFlavor;
  scope: TransactionScope;
  settings: ConnectionSettings;
  /** The change feed; without one the store caches nothing. */
  feed?: PostgresChangeFeed | undefined;
  logger?: Logger | undefined;
}

export class PostgresMetadataStore extends SqlMetadataStore {
  private readonly cache: ReadCache | undefined;
  private readonly feed: PostgresChangeFeed | undefined;
  private readonly settings: ConnectionSettings;
  private readonly logger: Logger | undefined;
  private readonly leases: PostgresLeaderLease[] = [];

  constructor(options: PostgresMetadataStoreOptions) {
    super({ db: options.db, flavor: options.flavor, scope: options.scope });
    this.feed = options.feed;
    this.settings = options.settings;
    this.logger = options.logger;
    const bus = options.feed;
    if (bus) {
      const cache = <V>(topic: 'key' | 'principal' | 'quorum-rules') => new CoherentCache<V>({ bus, capacity: READ_CACHE_ENTRIES, topics: [topic] });
      this.cache = {
        keys: cache('key'),
        versions: cache('key'),
        principals: cache('principal'),
        quorumRules: cache('quorum-rules'),
      };
    }
  }

  /** Changes committed by any node, for caches outside the store (credentials, key handles). */
  get changes(): InvalidationBus | undefined {
    return this.feed;
  }

  /** This node committed a write: nothing it cached may be older than that write. */
  localCommit(): void {
    if (!this.cache) return;
    for (const c of Object.values(this.cache)) c.clear();
  }

  /** A new scheduler lease on a connection of its own (see locks.ts). */
  leaderLease(): LeaderLease {
    const lease = new PostgresLeaderLease(this.settings, this.logger);
    this.leases.push(lease);
    return lease;
  }

  /** Whether the database answers now (for `/health`), without waiting past `timeoutMs`. */
  async health(timeoutMs = 3_000): Promise<{ ok: boolean; detail?: string }> {
    try {
      // A SELECT node, not raw SQL: the driver counts raw SQL as a possible write, and a write
      // empties this node's read caches — every load-balancer probe would have done so.
      await withDeadline(this.db.selectNoFrom(sql<number>`1`.as('one')).execute(), Date.now() + timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
      return { ok: true };
    } catch (error) {
      const down = unavailability(error);
      return { ok: false, detail: `metadata store: ${(down ?? (error as Error)).message}` };
    }
  }

  override async getKey(keyId: string): Promise<KeyRecord | undefined> {
    if (!this.cache) return super.getKey(keyId);
    const key = await this.cache.keys.get(keyId, '', () => super.getKey(keyId));
    return key && cachedCopy.key(key);
  }

  override async getKeyVersion(keyId: string, versionId: string): Promise<KeyMaterialVersion | undefined> {
    if (!this.cache) return super.getKeyVersion(keyId, versionId);
    const version = await this.cache.versions.get(keyId, versionId, () => super.getKeyVersion(keyId, versionId));
    return version && cachedCopy.version(version);
  }

  override async getPrincipalAuthorization(arn: string, accessKeyId?: string): Promise<PrincipalAuthorization | undefined> {
    if (!this.cache) return super.getPrincipalAuthorization(arn, accessKeyId);
    const found = await this.cache.principals.get(arn, accessKeyId ?? '', () => super.getPrincipalAuthorization(arn, accessKeyId));
    return found && cachedCopy.principalAuthorization(found);
  }

  override async listQuorumRules(): Promise<QuorumRuleRecord[]> {
    if (!this.cache) return super.listQuorumRules();
    const rules = await this.cache.quorumRules.get('*', '', () => super.listQuorumRules());
    return cachedCopy.quorumRules(rules);
  }

  override async close(): Promise<void> {
    for (const lease of this.leases) await lease.release();
    if (this.cache) for (const c of Object.values(this.cache)) c.close();
    await this.feed?.close();
    await super.close();
  }
}
