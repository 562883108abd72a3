/**
 * The SQLite CA store's certificate journal (src/ca/certificate-journal.ts): a journaled insert
 * commits without a WAL sync of its own (visible to another connection at once), the ordinary
 * insert still waits for one; the chain's position is marked and the WAL synced in the
 * background; a restore puts back only missing rows (a revoked row stays revoked), skips CAs the
 * store lacks and moves marks forward only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { caAuthority, caCertificate } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const T = 1_790_000_000_000;

async function withCaStore(test: (context: { ca: ReturnType<Awaited<ReturnType<typeof openSqliteStore>>['certificateAuthorityStore']>; syncs: () => number; path: string }) => Promise<void>) {
  const path = join(dir, `j${++n}.db`);
  let syncs = 0;
  const store = await openSqliteStore({
    path,
    syncWalFile: async (wal: FileHandle) => {
      syncs++;
      await wal.datasync();
    },
  });
  try {
    const ca = store.certificateAuthorityStore();
    await ca.insertAuthority(caAuthority('j'), caCertificate('j', '01', T, { issuer: 'root', kind: 'intermediate-ca' }));
    await test({ ca, syncs: () => syncs, path });
  } finally {
    await store.close();
  }
}

const rowsIn = (path: string, sql: string): unknown[] => {
  const other = new Database(path, { readonly: true });
  try {
    return other.prepare(sql).all();
  } finally {
    other.close();
  }
};

describe('the SQLite CA store’s certificate journal', () => {
  it('commits a journaled certificate without a sync, marks the chain’s position and syncs within about a second', async () => {
    await withCaStore(async ({ ca, syncs, path }) => {
      expect(ca.journal).toBeUndefined();
      const journal = ca.enableJournal!(() => ({ nodeId: 'node-w0', sequence: 41 }));
      expect(ca.journal).toBe(journal);
      const before = syncs();
      await journal.insert(caCertificate('j', '10', T + 1));
      expect(syncs()).toBe(before);
      expect(rowsIn(path, "SELECT serial FROM ca_certificates WHERE serial = '10'")).toHaveLength(1);
      await expect(journal.insert(caCertificate('j', '10', T + 2))).rejects.toMatchObject({ kind: 'conflict' });

      // The ordinary insert is durable before it resolves.
      await ca.insertCertificate(caCertificate('j', '11', T + 3));
      expect(syncs()).toBe(before + 1);

      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(rowsIn(path, 'SELECT node_id, sequence FROM ca_audit_marks')).toEqual([{ node_id: 'node-w0', sequence: 41 }]);
      expect(syncs()).toBe(before + 2);
    });
  });

  it('restores only missing rows of CAs it has, leaves a revoked one revoked, and moves marks forward only', async () => {
    await withCaStore(async ({ ca, path }) => {
      await ca.insertCertificate(caCertificate('j', '20', T + 1));
      await ca.revokeCertificate('j', '20', new Date(T + 5), 'keyCompromise');
      await ca.restoreJournaled!([], new Map([['a', 7]]));
      const restored = await ca.restoreJournaled!(
        [caCertificate('j', '20', T + 1), caCertificate('j', '21', T + 2), caCertificate('gone', '22', T + 3)],
        new Map([
          ['a', 5],
          ['b', 3],
        ]),
      );
      expect(restored).toBe(1);
      expect(await ca.getCertificate('j', '20')).toMatchObject({ revocationReason: 'keyCompromise' });
      expect(await ca.getCertificate('j', '21')).toMatchObject({ subject: 'CN=21.example.com', issuedAt: new Date(T + 2) });
      expect(await ca.journalMarks!()).toEqual(
        new Map([
          ['a', 7],
          ['b', 3],
        ]),
      );
      expect(rowsIn(path, "SELECT serial FROM ca_certificates WHERE ca_name = 'gone'")).toHaveLength(0);
    });
  });
});
