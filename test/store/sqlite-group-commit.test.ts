/** The SQLite store's group commit (src/store/sqlite/group-commit.ts): durable before resolved, one sync per group, a failed sync refused. */
import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports.js';
import { openSqliteStore, type SqliteMetadataStore } from '../../src/store/sqlite/index.js';
import { alias, caAuthority, caCertificate, key, version } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `g${++n}.db`);

/** A WAL sync that counts its calls and waits until released (`hold` / `release`), or fails with `fail`. */
function syncSeam() {
  const seam = {
    calls: 0,
    fail: undefined as NodeJS.ErrnoException | undefined,
    held: undefined as { promise: Promise<void>; resolve: () => void } | undefined,
    hold() {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      seam.held = { promise, resolve };
    },
    release() {
      seam.held?.resolve();
      seam.held = undefined;
    },
    sync: async (wal: FileHandle) => {
      seam.calls++;
      await seam.held?.promise;
      if (seam.fail) throw seam.fail;
      await wal.datasync();
    },
  };
  return seam;
}

/** Runs `test` on a fresh file store whose WAL syncs go through a {@link syncSeam}; closes it after. */
async function withStore(
  test: (store: SqliteMetadataStore, seam: ReturnType<typeof syncSeam>, path: string) => Promise<void>,
  options: { logger?: Logger } = {},
): Promise<void> {
  const path = freshPath();
  const seam = syncSeam();
  const store = await openSqliteStore({ path, syncWalFile: seam.sync, logger: options.logger });
  try {
    await test(store, seam, path);
  } finally {
    seam.release();
    await store.close();
  }
}

const synchronousOf = (store: SqliteMetadataStore) => store.connectionSettings().synchronous;
const countIn = (path: string, table: string) => {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    other.close();
  }
};
/** Whether `promise` has settled after the event loop has turned a few times. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  return done;
}

describe('SQLite group commit', () => {
  it('resolves a write only after the WAL sync that follows its commit, visible to another connection, back at synchronous = FULL', async () => {
    await withStore(async (store, seam, path) => {
      const k = key();
      seam.hold();
      const before = seam.calls;
      const insert = store.insertKey(k);
      expect(await settled(insert)).toBe(false);
      // Committed (another connection sees it) but not yet answered: the sync has not finished.
      expect(countIn(path, 'keys')).toBe(1);
      expect(seam.calls).toBe(before + 1);
      expect(synchronousOf(store)).toBe('full');
      seam.release();
      await insert;

      // A transaction, an alias and a delete, each resolved after a sync.
      const calls = seam.calls;
      await store.transaction(async (tx) => {
        await tx.insertKeyVersion(version(k.keyId));
        await tx.updateKey({ ...k, description: 'rotated', revision: 2 });
      });
      await store.insertAlias(alias('alias/group', k.keyId));
      expect(seam.calls).toBe(calls + 2);
      expect(countIn(path, 'key_versions')).toBe(1);
      expect(countIn(path, 'aliases')).toBe(1);
      expect(synchronousOf(store)).toBe('full');
    });
  });

  it('shares one sync among the writes committed while another sync runs', async () => {
    await withStore(async (store, seam, path) => {
      seam.hold();
      const first = store.insertKey(key());
      expect(await settled(first)).toBe(false);
      const calls = seam.calls;
      const rest = Array.from({ length: 20 }, () => store.insertKey(key()));
      expect(await settled(Promise.all(rest))).toBe(false);
      seam.release();
      await Promise.all([first, ...rest]);
      // All 20 committed while the first sync ran, so one more sync covered them all.
      expect(seam.calls).toBe(calls + 1);
      expect(countIn(path, 'keys')).toBe(21);
      // Reads make no sync.
      await store.listKeys(100);
      expect(seam.calls).toBe(calls + 1);
    });
  });

  it('rolls back a transaction that fails, leaving nothing behind and the connection at FULL', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    try {
      const k = key();
      await expect(
        store.transaction(async (tx) => {
          await tx.insertKey(k);
          await tx.insertKeyVersion(version(k.keyId));
          throw new Error('the HSM step failed');
        }),
      ).rejects.toThrow('the HSM step failed');
      expect(countIn(path, 'keys')).toBe(0);
      expect(countIn(path, 'key_versions')).toBe(0);
      expect(synchronousOf(store)).toBe('full');
    } finally {
      await store.close();
    }
  });

  it('makes a call that read this worker’s commit wait for the sync its write waits for', async () => {
    await withStore(async (store, seam, path) => {
      const k = key();
      seam.hold();
      const insert = store.insertKey(k);
      expect(await settled(insert)).toBe(false);
      expect(countIn(path, 'keys')).toBe(1); // committed, its sync held
      const call = store.inRequestScope(() => store.getKey(k.keyId));
      expect(await settled(call)).toBe(false);
      seam.release();
      expect((await call)?.keyId).toBe(k.keyId);
      await insert;
    });
  });

  it('makes a call that read another connection’s commit wait for a WAL sync before it ends', async () => {
    await withStore(async (store, seam, path) => {
      const other = await openSqliteStore({ path });
      try {
        const k = key();
        await store.insertKey(k);
        await store.inRequestScope(() => store.getKey(k.keyId)); // nothing pending: no sync
        const calls = seam.calls;
        await other.updateKey({ ...k, description: 'from another worker', revision: 2 });
        seam.hold();
        const call = store.inRequestScope(() => store.getKey(k.keyId));
        expect(await settled(call)).toBe(false);
        expect(seam.calls).toBe(calls + 1);
        seam.release();
        expect((await call)?.description).toBe('from another worker');
        // Seen and synced: the next call does not wait again.
        await store.inRequestScope(() => store.getKey(k.keyId));
        expect(seam.calls).toBe(calls + 1);
      } finally {
        await other.close();
      }
    });
  });

  it('makes a call that fails on another connection’s commit wait for a WAL sync before it ends', async () => {
    await withStore(async (store, seam, path) => {
      const other = await openSqliteStore({ path });
      try {
        const k = key();
        await store.insertKey(k);
        await other.updateKey({ ...k, keyState: 'Disabled', revision: 2 });
        seam.hold();
        // The refusal is an answer read from that commit: it must not go out before the commit is on disk.
        const call = store.inRequestScope(async () => {
          const read = await store.getKey(k.keyId);
          if (read?.keyState === 'Disabled') throw new Error('DisabledException');
          return read;
        });
        expect(await settled(call)).toBe(false);
        seam.release();
        await expect(call).rejects.toThrow('DisabledException');
      } finally {
        await other.close();
      }
    });
  });

  it('makes a call wait for a WAL sync when another connection committed after the call’s first check', async () => {
    await withStore(async (store, seam, path) => {
      const otherSeam = syncSeam();
      const other = await openSqliteStore({ path, syncWalFile: otherSeam.sync });
      try {
        const k = key();
        await store.insertKey(k);
        await store.inRequestScope(() => store.getKey(k.keyId)); // nothing pending: no sync
        let openGate!: () => void;
        const gate = new Promise<void>((r) => (openGate = r));
        seam.hold();
        otherSeam.hold();
        const call = store.inRequestScope(async () => {
          await store.getKey(k.keyId); // the call's check for commits
          await gate;
          return store.getAlias('alias/mid-call');
        });
        // Another worker commits now; its sync has not finished, so it has not answered.
        const write = other.insertAlias(alias('alias/mid-call', k.keyId));
        expect(await settled(write)).toBe(false);
        expect(countIn(path, 'aliases')).toBe(1);
        const calls = seam.calls;
        openGate();
        expect(await settled(call)).toBe(false);
        seam.release();
        expect((await call)?.aliasName).toBe('alias/mid-call');
        expect(seam.calls).toBe(calls + 1);
        otherSeam.release();
        await write;
      } finally {
        otherSeam.release();
        await other.close();
      }
    });
  });

  it('holds certificates that arrive while a sync runs and commits them together once it ends, each answered only after the sync that follows', async () => {
    await withStore(async (store, seam, path) => {
      const ca = store.certificateAuthorityStore();
      await ca.insertAuthority(caAuthority('held'), caCertificate('held', '01', 1_790_000_000_000, { issuer: 'root', kind: 'intermediate-ca' }));
      seam.hold();
      const first = store.insertKey(key());
      expect(await settled(first)).toBe(false);
      const calls = seam.calls;
      const certificates = Array.from({ length: 12 }, (_, i) => ca.insertCertificate(caCertificate('held', (0x10 + i).toString(16), 1_790_000_000_000 + i)));
      expect(await settled(Promise.all(certificates))).toBe(false);
      // Held while the sync runs (committed now, they would wait for the next sync anyway): not
      // yet committed, so nobody sees them.
      expect(countIn(path, 'ca_certificates')).toBe(1);
      // The sync ends: the held rows are committed and answered after one more sync.
      seam.release();
      await Promise.all([first, ...certificates]);
      expect(countIn(path, 'ca_certificates')).toBe(13);
      expect(seam.calls).toBe(calls + 1);
      // A serial taken already fails its own insert only, also when held with others.
      seam.hold();
      const blocker = store.insertKey(key());
      expect(await settled(blocker)).toBe(false);
      const again = [ca.insertCertificate(caCertificate('held', '10', 1_790_000_000_100)), ca.insertCertificate(caCertificate('held', '40', 1_790_000_000_101))];
      seam.release();
      await blocker;
      await expect(again[0]).rejects.toMatchObject({ name: 'StoreError' });
      await again[1];
      expect(countIn(path, 'ca_certificates')).toBe(14);
    });
  });

  it('keeps a write made while the store closes: it resolves once synced, and its row is in the file', async () => {
    const path = freshPath();
    const seam = syncSeam();
    const store = await openSqliteStore({ path, syncWalFile: seam.sync });
    const k = key();
    seam.hold();
    const write = store.insertKey(k);
    expect(await settled(write)).toBe(false);
    const closing = store.close();
    expect(await settled(closing)).toBe(false);
    seam.release();
    await write;
    await closing;
    expect(countIn(path, 'keys')).toBe(1);
  });

  it('fails the writes waiting for a sync that fails, then refuses writes, calls and certificates with a clear error', async () => {
    const errors: string[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (_obj, msg) => void errors.push(msg ?? ''),
      child: () => logger,
    };
    await withStore(async (store, seam, path) => {
      const kept = key();
      await store.insertKey(kept);
      expect(await store.health()).toStrictEqual({ ok: true });
      seam.hold();
      const waiting = [store.insertKey(key()), store.insertKey(key()), store.insertAlias(alias('alias/failed', kept.keyId))];
      seam.fail = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      seam.release();
      const message = /syncing SQLite's write-ahead log to disk failed \(EIO\).*refuses further metadata writes and calls until it is restarted/;
      for (const write of waiting) await expect(write).rejects.toThrow(message);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(await store.health()).toStrictEqual({ ok: false, detail: expect.stringMatching(message) });

      // Refused at once from now on, without syncing again; nothing more is committed.
      seam.fail = undefined;
      const calls = seam.calls;
      const keysBefore = countIn(path, 'keys');
      await expect(store.insertKey(key())).rejects.toThrow(message);
      await expect(store.transaction(async (tx) => tx.insertKey(key()))).rejects.toThrow(message);
      await expect(store.inRequestScope(() => store.getKey(kept.keyId))).rejects.toThrow(message);
      const ca = store.certificateAuthorityStore();
      await expect(
        ca.insertCertificate({ caName: 'x', serial: '01', issuer: 'intermediate', kind: 'tls-server', subject: 'CN=x', notBefore: new Date(0), notAfter: new Date(1), issuedAt: new Date(0), certificate: new Uint8Array(1) }),
      ).rejects.toThrow(message);
      expect(seam.calls).toBe(calls);
      expect(countIn(path, 'keys')).toBe(keysBefore);
      expect(synchronousOf(store)).toBe('full');
    }, { logger });
  });

  it('syncs nothing itself for an in-memory store or one opened with synchronous = normal', async () => {
    const seam = syncSeam();
    for (const options of [{ path: ':memory:' }, { path: freshPath(), synchronous: 'normal' as const }]) {
      const store = await openSqliteStore({ ...options, syncWalFile: seam.sync });
      await store.insertKey(key());
      await store.transaction(async (tx) => tx.insertKey(key()));
      await store.close();
    }
    expect(seam.calls).toBe(0);
  });
});
