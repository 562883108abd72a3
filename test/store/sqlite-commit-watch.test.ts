/**
 * The read cache's commit check through SQLite's WAL-index header (src/store/sqlite/wal-index.ts):
 * no SQL per call while nothing is committed, and every commit seen — by a connection of this
 * process, by another process, across WAL checkpoints and restarts — in both modes (the header
 * mapped by the native addon, and the `PRAGMA data_version` fallback without it).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/index.js';
import type { SqliteMetadataStore } from '../../src/store/sqlite/sqlite-store.js';
import { key } from './fixtures.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-commit-watch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `s${++n}`, 'meta.db');

/** Sets the key's state from another process (a child node with its own better-sqlite3 connection), as the CLI would. */
function setStateFromAnotherProcess(path: string, keyId: string, state: string, revision: number): void {
  const script = `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.pragma('busy_timeout = 5000');
    const r = db.prepare('update keys set key_state = ?, revision = ? where key_id = ?').run(process.argv[3], Number(process.argv[4]), process.argv[2]);
    if (r.changes !== 1) throw new Error('no row updated');
    db.close();`;
  execFileSync(process.execPath, ['-e', script, path, keyId, state, String(revision)], { cwd: repo, stdio: 'pipe' });
}

/**
 * A commit by another process that dies after writing WAL-index header copy 1 and before copy 0
 * (SQLite writes copy 1, a barrier, then copy 0): the child commits, then puts copy 0 back as it
 * was before (its own descriptor: one of this process would drop SQLite's locks here).
 */
function commitAndDieBetweenHeaderCopies(path: string, keyId: string, state: string, revision: number): void {
  const script = `
    const fs = require('node:fs');
    const [path, keyId, state, revision] = process.argv.slice(1);
    const db = new (require('better-sqlite3'))(path);
    db.pragma('busy_timeout = 5000');
    const shm = fs.openSync(fs.realpathSync(path) + '-shm', 'r+');
    const copy0 = Buffer.alloc(48);
    fs.readSync(shm, copy0, 0, 48, 0);
    if (db.prepare('update keys set key_state = ?, revision = ? where key_id = ?').run(state, Number(revision), keyId).changes !== 1) throw new Error('no row updated');
    const after = Buffer.alloc(96);
    fs.readSync(shm, after, 0, 96, 0);
    if (after.subarray(0, 48).equals(copy0) || !after.subarray(0, 48).equals(after.subarray(48))) throw new Error('the commit did not move both copies');
    fs.writeSync(shm, copy0, 0, 48, 0);
    process.exit(0);`;
  execFileSync(process.execPath, ['-e', script, path, keyId, state, String(revision)], { cwd: repo, stdio: 'pipe' });
}

/** Sets the key's state through a connection of this process that is not the store's. */
function setState(db: Database.Database, keyId: string, state: string, revision: number): void {
  db.prepare('update keys set key_state = ?, revision = ? where key_id = ?').run(state, revision, keyId);
}

/** `PRAGMA wal_checkpoint(TRUNCATE)` from another process; its result row. */
function checkpointFromAnotherProcess(path: string): { busy: number; log: number; checkpointed: number } {
  const script = `
    const db = new (require('better-sqlite3'))(process.argv[1], { timeout: 0 });
    process.stdout.write(JSON.stringify(db.pragma('wal_checkpoint(TRUNCATE)')[0]));
    db.close();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, path], { cwd: repo, encoding: 'utf8' })) as { busy: number; log: number; checkpointed: number };
}

const modes: { name: string; options: Partial<SqliteStoreOptions>; by: 'wal-index' | 'data_version' }[] = [
  { name: 'WAL-index header (native addon)', options: {}, by: 'wal-index' },
  { name: 'PRAGMA data_version (no addon)', options: { fileMapper: null }, by: 'data_version' },
];

/** The key's state as the next API call reads it. */
const stateInNextCall = (store: SqliteMetadataStore, keyId: string) => store.inRequestScope(async () => (await store.getKey(keyId))?.keyState);

/** Two commits through `other` (the key Enabled before), each seen by the store's next call. */
async function expectCommitsSeen(store: SqliteMetadataStore, other: Database.Database, keyId: string): Promise<void> {
  setState(other, keyId, 'Disabled', 2);
  expect(await stateInNextCall(store, keyId)).toBe('Disabled');
  setState(other, keyId, 'Enabled', 3);
  expect(await stateInNextCall(store, keyId)).toBe('Enabled');
}

describe.each(modes)('SQLite read cache, commits seen through $name', ({ options, by }) => {
  it(`checks with ${by}: no SQL per call while nothing is committed, and a commit by another connection of this process seen on the next call`, async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path, ...options });
    const raw = new Database(path);
    try {
      expect(store.commitChecks().by).toBe(by);
      const k = key();
      await store.insertKey(k);
      expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      const before = store.commitChecks().sqlChecks;
      for (let i = 0; i < 20; i++) expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      const idle = store.commitChecks().sqlChecks - before;
      // Two checks per call (its start, its end) by SQL without the header; none with it.
      expect(idle).toBe(by === 'wal-index' ? 0 : 40);
      await expectCommitsSeen(store, raw, k.keyId);
    } finally {
      raw.close();
      await store.close();
    }
  });

  /** A fresh store file with one Enabled key its calls have read (the cache and the header check settled), handed to `then`. */
  async function withKeySeen(then: (store: SqliteMetadataStore, path: string, keyId: string) => Promise<void>): Promise<void> {
    const path = freshPath();
    const store = await openSqliteStore({ path, ...options });
    try {
      const k = key();
      await store.insertKey(k);
      for (let i = 0; i < 3; i++) expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      await then(store, path, k.keyId);
    } finally {
      await store.close();
    }
  }

  it('sees a commit by another process (a child node, as the CLI) on the next call', async () => {
    await withKeySeen(async (store, path, keyId) => {
      setStateFromAnotherProcess(path, keyId, 'Disabled', 2);
      expect(await stateInNextCall(store, keyId)).toBe('Disabled');
      // And outside any call.
      setStateFromAnotherProcess(path, keyId, 'PendingDeletion', 3);
      expect((await store.getKey(keyId))?.keyState).toBe('PendingDeletion');
    });
  });

  it('sees a commit whose writer died between the two header copies (copy 1 new, copy 0 old): SQLite recovers it', async () => {
    await withKeySeen(async (store, path, keyId) => {
      commitAndDieBetweenHeaderCopies(path, keyId, 'Disabled', 2);
      // SQLite's next read finds the copies differ, rebuilds the header from the WAL (the commit
      // frame is there) and moves data_version: the commit is as committed as any other.
      expect(await stateInNextCall(store, keyId)).toBe('Disabled');
    });
  });

  it('sees every commit across checkpoints and WAL restarts made by another connection', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path, ...options });
    const writer = new Database(path);
    const checkpointer = new Database(path);
    const k = key();
    try {
      await store.insertKey(k);
      expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      // A commit, then the WAL emptied and truncated: the next commit starts the WAL again at
      // frame 1, as the first one did. Each is seen.
      setState(writer, k.keyId, 'Disabled', 2);
      expect(checkpointer.pragma('wal_checkpoint(TRUNCATE)', { simple: false })).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
      expect(await stateInNextCall(store, k.keyId)).toBe('Disabled');
      setState(writer, k.keyId, 'Enabled', 3);
      expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      expect(checkpointer.pragma('wal_checkpoint(TRUNCATE)', { simple: false })).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
      setState(writer, k.keyId, 'Disabled', 4);
      expect(await stateInNextCall(store, k.keyId)).toBe('Disabled');
      // Commit, checkpoint, commit between two calls of ours: the same frame count as before the restart.
      setState(writer, k.keyId, 'Enabled', 5);
      checkpointer.pragma('wal_checkpoint(TRUNCATE)');
      setState(writer, k.keyId, 'Disabled', 6);
      expect(await stateInNextCall(store, k.keyId)).toBe('Disabled');
      // A passive checkpoint and a RESTART one (the next writer starts the WAL over without truncating it).
      setState(writer, k.keyId, 'Enabled', 7);
      checkpointer.pragma('wal_checkpoint(PASSIVE)');
      expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
      checkpointer.pragma('wal_checkpoint(RESTART)');
      setState(writer, k.keyId, 'Disabled', 8);
      expect(await stateInNextCall(store, k.keyId)).toBe('Disabled');
      // And this store's own writes after all that.
      expect(await store.updateKey({ ...k, keyState: 'Enabled', revision: 9 })).toBe(true);
      expect(await stateInNextCall(store, k.keyId)).toBe('Enabled');
    } finally {
      writer.close();
      checkpointer.close();
      await store.close();
    }
  });
});

describe('SQLite read cache, WAL-index header mapping', () => {
  it('maps the -shm file SQLite uses when the database path is a symbolic link', async () => {
    const real = freshPath();
    const link = join(dir, `link${++n}`, 'meta.db');
    mkdirSync(dirname(link), { recursive: true });
    await (await openSqliteStore({ path: real })).close();
    symlinkSync(real, link);
    const store = await openSqliteStore({ path: link });
    const raw = new Database(real);
    try {
      expect(store.commitChecks().by).toBe('wal-index');
      const k = key();
      await store.insertKey(k);
      await expectCommitsSeen(store, raw, k.keyId);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('falls back to data_version for an in-memory database', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    try {
      expect(store.commitChecks().by).toBe('data_version');
    } finally {
      await store.close();
    }
  });

  it("keeps SQLite's locks on the -shm file: another process still sees this process's reader", async () => {
    // Had the mapping opened and closed a descriptor of its own on the -shm file, every POSIX lock
    // this process holds on that file (SQLite's read marks, and the one saying it is in use) would
    // be gone, and another process could reset the WAL under a reader of ours.
    const path = freshPath();
    const k = key();
    const seed = await openSqliteStore({ path });
    await seed.insertKey(k);
    await seed.close();
    const writer = new Database(path);
    const reader = new Database(path);
    let store: SqliteMetadataStore | undefined;
    try {
      writer.prepare("update keys set description = 'in the WAL', revision = 2 where key_id = ?").run(k.keyId);
      // A read transaction on a snapshot inside the WAL, then the store opened (and mapped) …
      reader.exec('begin');
      reader.prepare('select count(*) from keys').get();
      store = await openSqliteStore({ path });
      expect(store.commitChecks().by).toBe('wal-index');
      setState(writer, k.keyId, 'Disabled', 3);
      // … and another process cannot checkpoint past the reader's snapshot and truncate the WAL.
      expect(checkpointFromAnotherProcess(path)).toMatchObject({ busy: 1 });
      reader.exec('commit');
      expect(checkpointFromAnotherProcess(path)).toMatchObject({ busy: 0 });
    } finally {
      reader.close();
      writer.close();
      await store?.close();
    }
  });
});
