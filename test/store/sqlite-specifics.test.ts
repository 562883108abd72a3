/** What only the SQLite store promises: file permissions, pragmas, reopening, the single-connection guard. */
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Logger } from '../../src/core/ports.js';
import type { KeyMaterialVersion } from '../../src/core/model.js';
import { alias, key, version } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `s${++n}`, 'meta.db');

function recordingLogger(): Logger & { lines: { level: string; obj: object; msg?: string | undefined }[] } {
  const lines: { level: string; obj: object; msg?: string | undefined }[] = [];
  const logger = {
    lines,
    debug: (obj: object, msg?: string) => lines.push({ level: 'debug', obj, msg }),
    info: (obj: object, msg?: string) => lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg?: string) => lines.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg?: string) => lines.push({ level: 'error', obj, msg }),
    child: () => logger,
  };
  return logger;
}

describe('SQLite store file', () => {
  it('creates the database (and its WAL files) with mode 0600 and its directory with 0700', async () => {
    const path = freshPath();
    const previous = process.umask(0o022);
    try {
      const store = await openSqliteStore({ path });
      await store.insertKey(key());
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      await store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('warns about an existing database file others can read, without changing it', async () => {
    const path = join(dir, 'shared.db');
    writeFileSync(path, '');
    chmodSync(path, 0o640);
    const logger = recordingLogger();
    const store = await openSqliteStore({ path, logger });
    await store.close();
    expect(logger.lines.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('640'))).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('uses WAL, foreign keys, FULL sync (unless asked for NORMAL) and a busy timeout', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    expect(store.connectionSettings()).toStrictEqual({ journalMode: 'wal', synchronous: 'full', busyTimeoutMs: 5000, foreignKeys: true });
    await expect(store.insertKeyVersion(version('missing'))).rejects.toThrow(/FOREIGN KEY/);
    await store.close();
    const fast = await openSqliteStore({ path, synchronous: 'normal' });
    expect(fast.connectionSettings().synchronous).toBe('normal');
    await fast.close();
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('keeps its data and schema across close and reopen (migrations run once)', async () => {
    const path = freshPath();
    const k = key({ description: 'persisted', deletionDate: new Date(1_790_000_000_001) });
    const first = await openSqliteStore({ path });
    await first.insertKey(k);
    await first.insertAlias(alias('alias/persisted', k.keyId));
    await first.close();
    await first.close(); // closing twice is harmless

    const logger = recordingLogger();
    const second = await openSqliteStore({ path, logger });
    expect(await second.getKey(k.keyId)).toStrictEqual(k);
    expect(await second.getAlias('alias/persisted')).toBeDefined();
    const opened = logger.lines.find((l) => l.msg === 'metadata store opened');
    expect(opened?.obj).toMatchObject({ migrationsApplied: [] });
    await second.close();
  });

  it('refuses a database migrated by a newer version instead of guessing at its schema', async () => {
    const path = freshPath();
    await (await openSqliteStore({ path })).close();
    const raw = new Database(path);
    raw.prepare("insert into kysely_migration (name, timestamp) values ('9999-from-the-future', '2030-01-01T00:00:00.000Z')").run();
    raw.close();
    const error = await openSqliteStore({ path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/schema migration failed/);
    expect(String((error as Error).cause)).toMatch(/9999-from-the-future/);
  });

  it('sees another connection’s commits and loses optimistic races to it', async () => {
    const path = freshPath();
    const a = await openSqliteStore({ path });
    const b = await openSqliteStore({ path });
    const k = key();
    await a.insertKey(k);
    const fromB = await b.getKey(k.keyId);
    expect(fromB).toStrictEqual(k);
    expect(await a.updateKey({ ...k, description: 'a wins', revision: 2 })).toBe(true);
    expect(await b.updateKey({ ...fromB!, description: 'b loses', revision: 2 })).toBe(false);
    expect((await b.getKey(k.keyId))?.description).toBe('a wins');
    await a.close();
    await b.close();
  });

  it('takes the write lock when a transaction begins, so another process never fails to upgrade mid-transaction', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const other = new Database(path);
    other.pragma('busy_timeout = 0');
    try {
      await store.transaction(async (tx) => {
        await tx.getKey('anything'); // a read only: a deferred BEGIN would hold no write lock yet
        expect(() => other.prepare('begin immediate').run()).toThrow(/locked|busy/i);
      });
      other.prepare('begin immediate').run();
      other.prepare('rollback').run();
    } finally {
      other.close();
      await store.close();
    }
  });

  it('refuses a corrupt database file with an error instead of opening it', async () => {
    const path = join(dir, 'corrupt.db');
    writeFileSync(path, 'this is not a database'.repeat(100), { mode: 0o600 });
    await expect(openSqliteStore({ path })).rejects.toThrow();
  });
});

describe('SQLite store fast path', () => {
  it('serves getKey and getKeyVersion identically on the fast path and inside a transaction', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const k = key({ rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: new Date(1_800_000_000_555) });
    const v = version(k.keyId, { publicKey: new Uint8Array([1, 2, 3]), rotationType: 'AUTOMATIC' });
    await store.insertKey(k);
    await store.insertKeyVersion(v);
    const fast = [await store.getKey(k.keyId), await store.getKeyVersion(k.keyId, v.versionId)];
    const inTx = await store.transaction(async (tx) => [await tx.getKey(k.keyId), await tx.getKeyVersion(k.keyId, v.versionId)]);
    expect(fast).toStrictEqual(inTx);
    expect(fast[0]).toStrictEqual(k);
    await store.close();
  });

  it('never serves a cached record after any connection commits: another worker, a raw connection, this one', async () => {
    const path = freshPath();
    const a = await openSqliteStore({ path });
    const b = await openSqliteStore({ path });
    const raw = new Database(path);
    try {
      const k = key();
      const v = version(k.keyId);
      await a.insertKey(k);
      await a.insertKeyVersion(v);
      // Warm b's cache, then change the key through a: b's next read sees it.
      expect((await b.getKey(k.keyId))?.keyState).toBe('Enabled');
      expect((await b.getKeyVersion(k.keyId, v.versionId))?.versionId).toBe(v.versionId);
      expect(await a.updateKey({ ...k, keyState: 'Disabled', revision: 2 })).toBe(true);
      expect((await b.getKey(k.keyId))?.keyState).toBe('Disabled');
      // A write from outside the store (another process, the CLI) is seen too.
      raw.prepare("update keys set key_state = 'Enabled', revision = 3 where key_id = ?").run(k.keyId);
      expect((await b.getKey(k.keyId))?.keyState).toBe('Enabled');
      // And b's own commits.
      expect(await b.updateKey({ ...k, description: 'changed by b', revision: 4 })).toBe(true);
      expect((await b.getKey(k.keyId))?.description).toBe('changed by b');
      raw.prepare('delete from key_versions where key_id = ?').run(k.keyId);
      expect(await b.getKeyVersion(k.keyId, v.versionId)).toBeUndefined();
    } finally {
      raw.close();
      await a.close();
      await b.close();
    }
  });

  it('in a request scope checks for commits once; its own writes, and the next scope, see everything committed', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const raw = new Database(path);
    try {
      const k = key();
      await store.insertKey(k);
      await store.inRequestScope(async () => {
        expect((await store.getKey(k.keyId))?.keyState).toBe('Enabled');
        // Committed by another process while this call runs: the call keeps what it checked at its start …
        raw.prepare("update keys set key_state = 'Disabled', revision = 2 where key_id = ?").run(k.keyId);
        expect((await store.getKey(k.keyId))?.keyState).toBe('Enabled');
        // … until a write of its own, after which it checks again.
        await store.insertKey(key());
        expect((await store.getKey(k.keyId))?.keyState).toBe('Disabled');
      });
      raw.prepare("update keys set key_state = 'Enabled', revision = 3 where key_id = ?").run(k.keyId);
      // The next call (and any read outside a call) sees the commit.
      expect(await store.inRequestScope(async () => (await store.getKey(k.keyId))?.keyState)).toBe('Enabled');
      raw.prepare("update keys set key_state = 'Disabled', revision = 4 where key_id = ?").run(k.keyId);
      expect((await store.getKey(k.keyId))?.keyState).toBe('Disabled');
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('reads a key and its current version in one statement; a rotation or a version change by another connection is seen next read', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path, readCacheEntries: 2 });
    const raw = new Database(path);
    try {
      const k = key({ currentVersionId: undefined });
      await store.insertKey(k);
      const v1 = version(k.keyId, { publicKey: new Uint8Array([7, 8]), rotationType: 'ON_DEMAND' });
      const v2 = version(k.keyId);
      await store.insertKeyVersion(v1);
      await store.insertKeyVersion(v2);
      // The store hands out Buffers for the Uint8Arrays it was given.
      const plain = (v: KeyMaterialVersion | undefined) =>
        v && { ...v, wrappedMaterial: Buffer.from(v.wrappedMaterial), ...(v.publicKey ? { publicKey: Buffer.from(v.publicKey) } : {}) };
      const versionReads = vi.spyOn((store as unknown as { versionById: { get(...a: unknown[]): unknown } }).versionById, 'get');
      // No current version: the key alone, and its versions read on their own.
      expect((await store.getKey(k.keyId))?.currentVersionId).toBeUndefined();
      expect(plain(await store.getKeyVersion(k.keyId, v1.versionId))).toStrictEqual(plain(v1));
      expect(versionReads).toHaveBeenCalledTimes(1);
      // Another process makes v1 current: the key's read brings v1 along, equal to its own read.
      raw.prepare('update keys set current_version_id = ?, revision = 2 where key_id = ?').run(v1.versionId, k.keyId);
      expect((await store.getKey(k.keyId))?.currentVersionId).toBe(v1.versionId);
      expect(plain(await store.getKeyVersion(k.keyId, v1.versionId))).toStrictEqual(plain(v1));
      expect(versionReads).toHaveBeenCalledTimes(1);
      // A rotation by another process (v2 current) and a change to v1's row: both seen at once.
      raw.prepare('update keys set current_version_id = ?, revision = 3 where key_id = ?').run(v2.versionId, k.keyId);
      raw.prepare('update key_versions set rotation_type = ? where version_id = ?').run('AUTOMATIC', v1.versionId);
      expect((await store.getKey(k.keyId))?.currentVersionId).toBe(v2.versionId);
      expect(plain(await store.getKeyVersion(k.keyId, v2.versionId))).toStrictEqual(plain(v2));
      expect(versionReads).toHaveBeenCalledTimes(1);
      expect(plain(await store.getKeyVersion(k.keyId, v1.versionId))).toStrictEqual(plain({ ...v1, rotationType: 'AUTOMATIC' }));
      expect(versionReads).toHaveBeenCalledTimes(2);
      // The current version deleted by another process: the key read finds none, and neither does the version read.
      raw.prepare('delete from key_versions where version_id = ?').run(v2.versionId);
      expect((await store.getKey(k.keyId))?.currentVersionId).toBe(v2.versionId);
      expect(await store.getKeyVersion(k.keyId, v2.versionId)).toBeUndefined();
      // Bounded: keys read with their versions through 2 entries leave 2 versions cached.
      const others = Array.from({ length: 5 }, () => key());
      for (const o of others) {
        const v = version(o.keyId);
        await store.insertKey({ ...o, currentVersionId: v.versionId });
        await store.insertKeyVersion(v);
      }
      for (const o of others) await store.getKey(o.keyId);
      expect((store as unknown as { versionCache: Map<string, unknown> }).versionCache.size).toBe(2);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('keeps at most readCacheEntries rows, drops the least recently used first, and never serves one after a commit', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path, readCacheEntries: 3 });
    const raw = new Database(path);
    try {
      const keys = Array.from({ length: 50 }, () => key());
      for (const k of keys) await store.insertKey(k);
      const [k1, k2, k3, k4] = keys as [ReturnType<typeof key>, ReturnType<typeof key>, ReturnType<typeof key>, ReturnType<typeof key>];
      // Reads that reach the database: the prepared statement behind the cache.
      const reads = vi.spyOn((store as unknown as { keyById: { get(id: string): unknown } }).keyById, 'get');
      const read = async (k: { keyId: string }) => {
        const before = reads.mock.calls.length;
        const state = (await store.getKey(k.keyId))?.keyState;
        return { fromDisk: reads.mock.calls.length > before, state };
      };
      for (const k of [k1, k2, k3]) expect((await read(k)).fromDisk).toBe(true);
      expect((await read(k1)).fromDisk).toBe(false);
      // Full: k4 pushes out k2, the least recently used (k1 was used after it) …
      expect((await read(k4)).fromDisk).toBe(true);
      expect((await read(k1)).fromDisk).toBe(false);
      expect((await read(k2)).fromDisk).toBe(true);
      // … and 50 keys read in turn through 3 entries come from disk every time: the cache does not grow.
      for (const k of [...keys.slice(4), ...keys]) expect((await read(k)).fromDisk).toBe(true);
      // A cached key (the last read) and an evicted one, disabled by another process: both refused at once.
      const cached = keys.at(-1)!;
      expect((await read(cached)).fromDisk).toBe(false);
      raw.prepare("update keys set key_state = 'Disabled', revision = 2 where key_id in (?, ?)").run(cached.keyId, k1.keyId);
      expect(await read(cached)).toStrictEqual({ fromDisk: true, state: 'Disabled' });
      expect(await read(k1)).toStrictEqual({ fromDisk: true, state: 'Disabled' });
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('a call that begins while another is in progress checks again: it sees what was committed before it began', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const raw = new Database(path);
    try {
      const k = key();
      await store.insertKey(k);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const first = store.inRequestScope(async () => {
        const state = (await store.getKey(k.keyId))?.keyState;
        await held;
        return state;
      });
      await new Promise((resolve) => setImmediate(resolve));
      // Another worker disables the key and answers while the first call is still in progress:
      // a call beginning now must not reuse the first call's check.
      raw.prepare("update keys set key_state = 'Disabled', revision = 2 where key_id = ?").run(k.keyId);
      expect(await store.inRequestScope(async () => (await store.getKey(k.keyId))?.keyState)).toBe('Disabled');
      release();
      expect(await first).toBe('Enabled');
      // A read outside any call, with none in progress, checks too.
      raw.prepare("update keys set key_state = 'Enabled', revision = 3 where key_id = ?").run(k.keyId);
      expect((await store.getKey(k.keyId))?.keyState).toBe('Enabled');
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('hands out copies: changing a returned record does not change the next read', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const k = key();
    const v = version(k.keyId);
    await store.insertKey(k);
    await store.insertKeyVersion(v);
    const first = (await store.getKey(k.keyId))!;
    first.keyState = 'Disabled';
    const firstVersion = (await store.getKeyVersion(k.keyId, v.versionId))!;
    const expectedVersion = { ...firstVersion };
    firstVersion.versionId = 'changed';
    expect(await store.getKey(k.keyId)).toStrictEqual(k);
    expect(await store.getKeyVersion(k.keyId, v.versionId)).toStrictEqual(expectedVersion);
    await store.close();
  });
});
