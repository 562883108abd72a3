/**
 * The CA store (src/store/sql/ca-repository.ts) on SQLite and, when a server is available,
 * PostgreSQL: uniqueness, revocation bumping the tier's epoch exactly once, CRL numbers that
 * never repeat even when several nodes sign at once, and a stored CRL that never goes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaStore } from '../../src/ca/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import type { SqlMetadataStore } from '../../src/store/sql/sql-store.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { caAuthority, caCertificate } from './fixtures.js';
import { findPostgres, startPostgres, type TestPostgres } from './postgres-server.js';

function describeCaStoreContract(label: string, open: () => Promise<SqlMetadataStore>, openTwin?: (first: SqlMetadataStore) => Promise<SqlMetadataStore>) {
  describe(`CA store on ${label}`, () => {
    let metadata: SqlMetadataStore;
    let store: CaStore;
    beforeAll(async () => {
      metadata = await open();
      store = metadata.certificateAuthorityStore();
      await store.insertAuthority(caAuthority('one'), caCertificate('one', '4a', 1_790_000_000_000, { issuer: 'root', kind: 'intermediate-ca' }));
    });
    afterAll(() => metadata?.close());

    it('keeps CA names and serials unique, and round-trips records exactly', async () => {
      expect(await store.getAuthority('one')).toStrictEqual(caAuthority('one'));
      await expect(store.insertAuthority(caAuthority('one'), caCertificate('one', '4b', 1))).rejects.toMatchObject({
        name: 'StoreError',
        kind: 'conflict',
        record: 'certificate-authority',
        subject: 'one',
      });
      const c = caCertificate('one', '5a', 1_790_000_001_000);
      await store.insertCertificate(c);
      expect(await store.getCertificate('one', '5a')).toStrictEqual(c);
      await expect(store.insertCertificate(c)).rejects.toMatchObject({ name: 'StoreError', kind: 'conflict', record: 'certificate', subject: 'one/5a' });
      expect(await store.getCertificate('one', 'ffff')).toBeUndefined();
    });

    it('commits certificates inserted together, and refuses only the one whose serial is taken', async () => {
      const batch = ['b1', 'b2', 'b3', 'b4'].map((serial, i) => caCertificate('one', serial, 1_790_000_002_000 + i));
      await Promise.all(batch.map((c) => store.insertCertificate(c)));
      for (const c of batch) expect(await store.getCertificate('one', c.serial)).toStrictEqual(c);

      const again = [caCertificate('one', 'b5', 1_790_000_003_000), caCertificate('one', 'b2', 1_790_000_003_001), caCertificate('one', 'b6', 1_790_000_003_002)];
      const outcomes = await Promise.allSettled(again.map((c) => store.insertCertificate(c)));
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ name: 'StoreError', kind: 'conflict', record: 'certificate', subject: 'one/b2' });
      expect(await store.getCertificate('one', 'b5')).toStrictEqual(again[0]);
      expect(await store.getCertificate('one', 'b6')).toStrictEqual(again[2]);
      // The first b2 stands.
      expect(await store.getCertificate('one', 'b2')).toStrictEqual(batch[1]);
    });

    it('revokes once, bumping only the revoked certificate’s tier', async () => {
      await store.insertCertificate(caCertificate('one', '6a', 1_790_000_002_000));
      const before = await store.crlState('one', 'intermediate');
      const rootBefore = await store.crlState('one', 'root');
      const at = new Date(1_790_000_003_000);
      const first = await store.revokeCertificate('one', '6a', at, 'keyCompromise');
      expect(first).toMatchObject({ outcome: 'revoked', certificate: { revokedAt: at, revocationReason: 'keyCompromise' } });
      expect(await store.revokeCertificate('one', '6a', new Date(), 'superseded')).toMatchObject({ outcome: 'already-revoked', certificate: { revocationReason: 'keyCompromise' } });
      expect(await store.revokeCertificate('one', '77', new Date(), 'superseded')).toEqual({ outcome: 'not-found' });
      expect((await store.crlState('one', 'intermediate')).revocationEpoch).toBe(before.revocationEpoch + 1);
      expect((await store.crlState('one', 'root')).revocationEpoch).toBe(rootBefore.revocationEpoch);
      const { revoked } = await store.beginCrl('one', 'intermediate');
      expect(revoked).toContainEqual({ serial: '6a', revokedAt: at, reason: 'keyCompromise' });
    });

    it('hands out distinct CRL numbers to concurrent signers and never stores an older CRL over a newer one', async () => {
      const other = openTwin ? await openTwin(metadata) : metadata;
      try {
        const stores = [store, other.certificateAuthorityStore()];
        const numbers = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.beginCrl('one', 'intermediate').then((b) => b.crlNumber)));
        expect(new Set(numbers).size).toBe(10);
        const crl = (n: number) => ({ crlNumber: n, epoch: 0, thisUpdate: new Date(1_790_000_000_000), nextUpdate: new Date(1_790_600_000_000), crl: new Uint8Array([n]) });
        await store.saveCrl('one', 'intermediate', crl(100));
        await store.saveCrl('one', 'intermediate', crl(99));
        expect((await store.crlState('one', 'intermediate')).current?.crlNumber).toBe(100);
      } finally {
        if (other !== metadata) await other.close();
      }
    });

    it('pages in issue order from a position, and finds the newest unrevoked responder', async () => {
      await store.insertAuthority(caAuthority('paged'), caCertificate('paged', '01', 10, { issuer: 'root', kind: 'intermediate-ca' }));
      for (let i = 2; i <= 7; i++) await store.insertCertificate(caCertificate('paged', `0${i}`, 10 * i));
      await store.insertCertificate(caCertificate('paged', 'a1', 100, { kind: 'ocsp-responder', notAfter: new Date(5000) }));
      await store.insertCertificate(caCertificate('paged', 'a2', 110, { kind: 'ocsp-responder', notAfter: new Date(9000) }));
      await store.revokeCertificate('paged', 'a2', new Date(200), 'superseded');
      const seen: string[] = [];
      let after: { issuedAt: Date; serial: string } | undefined;
      for (;;) {
        const page = await store.listCertificates('paged', { limit: 3, after });
        seen.push(...page.items.map((c) => c.serial));
        const last = page.items.at(-1);
        if (!page.more || !last) break;
        after = { issuedAt: last.issuedAt, serial: last.serial };
      }
      expect(seen).toEqual(['01', '02', '03', '04', '05', '06', '07', 'a1', 'a2']);
      expect((await store.currentResponder('paged', 'intermediate'))?.serial).toBe('a1');
      expect(await store.currentResponder('paged', 'root')).toBeUndefined();
    });
  });
}

describeCaStoreContract('SQLite', () => openSqliteStore({ path: ':memory:' }));

// On a file, certificate commits skip SQLite's own fsync and wait for a WAL sync off the event loop.
const fileDir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-store-'));
afterAll(() => rmSync(fileDir, { recursive: true, force: true }));
describeCaStoreContract('SQLite on a file', () => openSqliteStore({ path: join(fileDir, 'contract.db') }));

describe('certificates on a SQLite file', () => {
  it('are committed and visible to another connection when the insert resolves, and the connection stays synchronous = FULL', async () => {
    const path = join(fileDir, 'durable.db');
    const metadata = await openSqliteStore({ path });
    try {
      const store = metadata.certificateAuthorityStore();
      await store.insertAuthority(caAuthority('file'), caCertificate('file', '10', 1_790_000_000_000, { issuer: 'root', kind: 'intermediate-ca' }));
      const issued = Array.from({ length: 20 }, (_, i) => caCertificate('file', `c${i}`, 1_790_000_001_000 + i));
      await Promise.all(issued.map((c) => store.insertCertificate(c)));
      await store.insertCertificate(caCertificate('file', 'last', 1_790_000_002_000));
      const other = new Database(path, { readonly: true });
      try {
        expect(other.prepare('SELECT count(*) AS n FROM ca_certificates WHERE ca_name = ?').get('file')).toEqual({ n: 22 });
      } finally {
        other.close();
      }
      const sqlite = (metadata as unknown as { sqlite: Database.Database }).sqlite;
      expect(sqlite.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await metadata.close();
    }
  });
});

const found = findPostgres();
describe.skipIf('missing' in found)('PostgreSQL', () => {
  let server: TestPostgres;
  const schema = `ca${process.pid}_${Date.now().toString(36)}`;
  beforeAll(() => {
    server = startPostgres();
  }, 60_000);
  afterAll(() => server?.stop());
  describeCaStoreContract(
    'PostgreSQL (two nodes)',
    () => openPostgresStore({ connectionString: server.connectionString, schema, maxConnections: 4 }),
    () => openPostgresStore({ connectionString: server.connectionString, schema, maxConnections: 4 }),
  );
});
