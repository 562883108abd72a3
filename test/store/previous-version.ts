/** A SQLite database as an earlier version of hsmkms left it, for the tests of a migration. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { expect, onTestFinished } from 'vitest';
import { sqliteFlavor } from '../../src/store/sqlite/index.js';
import { migrationsFor } from '../../src/store/sql/migrations/index.js';

/**
 * A fresh database file with every migration that sorts before `before` (e.g. `0011`) applied,
 * removed when the calling test finishes; `fill` writes the previous version's rows through its own handles.
 */
export async function previousVersionDatabase(
  before: string,
  fill: (handles: { sqlite: Database.Database; db: Kysely<any> }) => Promise<void> | void,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-migration-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'hsmkms.sqlite');
  const sqlite = new Database(path);
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: sqlite }) });
  const migrations = Object.fromEntries(Object.entries(migrationsFor(sqliteFlavor)).filter(([name]) => name < before));
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  expect(error).toBeUndefined();
  await fill({ sqlite, db });
  await db.destroy();
  return path;
}
