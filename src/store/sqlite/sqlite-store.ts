/**
 * The SQLite store: the shared SQL store plus a fast path for the two reads on every
 * Encrypt/Decrypt/Sign request. Kysely builds and better-sqlite3 prepares a statement on each
 * call; here the two statements are compiled and prepared once and run synchronously.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Kysely, Selectable } from 'kysely';
import type { KeyMaterialVersion, KeyRecord } from '../../core/model.js';
import type { SqlFlavor } from '../sql/dialect.js';
import { rowToKey, rowToVersion } from '../sql/rows.js';
import type { KeysTable, KeyVersionsTable, MetadataDatabase } from '../sql/schema.js';
import { SqlMetadataStore, type TransactionScope } from '../sql/sql-store.js';

export interface SqliteMetadataStoreOptions {
  db: Kysely<MetadataDatabase>;
  sqlite: Database;
  flavor: SqlFlavor;
  scope: TransactionScope;
}

export class SqliteMetadataStore extends SqlMetadataStore {
  private readonly sqlite: Database;
  private readonly keyById: Statement<[string], Selectable<KeysTable>>;
  private readonly versionById: Statement<[string, string], Selectable<KeyVersionsTable>>;

  constructor(options: SqliteMetadataStoreOptions) {
    super({ db: options.db, flavor: options.flavor, scope: options.scope });
    this.sqlite = options.sqlite;
    // Compiled by Kysely (so the SQL stays in one dialect-aware place), prepared once.
    const keySql = options.db.selectFrom('keys').selectAll().where('key_id', '=', '').compile().sql;
    const versionSql = options.db
      .selectFrom('key_versions')
      .selectAll()
      .where('key_id', '=', '')
      .where('version_id', '=', '')
      .compile().sql;
    this.keyById = this.sqlite.prepare(keySql);
    this.versionById = this.sqlite.prepare(versionSql);
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
    const row = this.keyById.get(keyId);
    return row && rowToKey(row);
  }

  override async getKeyVersion(keyId: string, versionId: string): Promise<KeyMaterialVersion | undefined> {
    if (this.sqlite.inTransaction || !this.sqlite.open) return super.getKeyVersion(keyId, versionId);
    const row = this.versionById.get(keyId, versionId);
    return row && rowToVersion(row);
  }
}
