/**
 * Migration 0025 on a database written by the previous version: the CRL's and the OCSP
 * responder's indexes become partial, so they hold only revoked rows and responder rows — a new
 * leaf's row is written into neither (two index pages fewer per issuance) — and both reads
 * answer exactly as before, over the rows the previous version left.
 */
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { SqlCaStore } from '../../src/store/sql/ca-repository.js';
import { openSqliteStore, sqliteFlavor } from '../../src/store/sqlite/index.js';
import { caAuthority, caCertificate } from './fixtures.js';
import { previousVersionDatabase } from './previous-version.js';

const t0 = 1_790_000_000_000;
const responder = (serial: string, issuer: 'root' | 'intermediate', notAfterMs: number) =>
  caCertificate('ca', serial, t0 + 1_000, { issuer, kind: 'ocsp-responder', notAfter: new Date(notAfterMs) });

/** Entries in each index of ca_certificates (SQLite's dbstat), by index name. */
function indexEntries(path: string): Record<string, number> {
  const sqlite = new Database(path, { readonly: true });
  try {
    const rows = sqlite
      .prepare<[], { name: string; entries: number }>(
        "SELECT name, sum(ncell) AS entries FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ca_certificates') AND pagetype = 'leaf' GROUP BY name",
      )
      .all();
    return Object.fromEntries(rows.map((r) => [r.name, r.entries]));
  } finally {
    sqlite.close();
  }
}

it('keeps revocations and responders findable, and indexes only those rows from then on', async () => {
  const path = await previousVersionDatabase('0025', async ({ db }) => {
    const before = new SqlCaStore(db, sqliteFlavor);
    await before.insertAuthority(caAuthority('ca'), caCertificate('ca', '01', t0, { issuer: 'root', kind: 'intermediate-ca' }));
    for (let i = 0; i < 20; i++) await before.insertCertificate(caCertificate('ca', `1${i.toString(16).padStart(2, '0')}`, t0 + 2_000 + i));
    await before.insertCertificate(responder('a1', 'intermediate', t0 + 5_000_000));
    await before.insertCertificate(responder('a2', 'intermediate', t0 + 9_000_000));
    await before.insertCertificate(responder('a3', 'intermediate', t0 + 7_000_000));
    await before.insertCertificate(responder('a4', 'root', t0 + 6_000_000));
    await before.revokeCertificate('ca', 'a2', new Date(t0 + 3_000), 'superseded');
    await before.revokeCertificate('ca', '105', new Date(t0 + 4_000), 'keyCompromise');
    await before.revokeCertificate('ca', '103', new Date(t0 + 4_000), 'cessationOfOperation');
  });

  const store = await openSqliteStore({ path });
  try {
    const ca = store.certificateAuthorityStore();
    expect((await ca.currentResponder('ca', 'intermediate'))?.serial).toBe('a3');
    expect((await ca.currentResponder('ca', 'root'))?.serial).toBe('a4');
    expect((await ca.beginCrl('ca', 'intermediate')).revoked).toStrictEqual([
      { serial: 'a2', revokedAt: new Date(t0 + 3_000), reason: 'superseded' },
      { serial: '103', revokedAt: new Date(t0 + 4_000), reason: 'cessationOfOperation' },
      { serial: '105', revokedAt: new Date(t0 + 4_000), reason: 'keyCompromise' },
    ]);
    expect(indexEntries(path)).toMatchObject({ ca_certificates_revoked: 3, ca_certificates_responders: 4 });
    expect(indexEntries(path)).not.toHaveProperty('ca_certificates_by_kind');

    // New leaves go into neither; a revocation goes into the CRL's, at once.
    for (let i = 0; i < 20; i++) await ca.insertCertificate(caCertificate('ca', `2${i.toString(16).padStart(2, '0')}`, t0 + 10_000 + i));
    expect(indexEntries(path)).toMatchObject({ ca_certificates_revoked: 3, ca_certificates_responders: 4 });
    await ca.revokeCertificate('ca', '20a', new Date(t0 + 20_000), 'affiliationChanged');
    await ca.revokeCertificate('ca', 'a3', new Date(t0 + 20_000), 'superseded');
    expect(indexEntries(path)).toMatchObject({ ca_certificates_revoked: 5, ca_certificates_responders: 4 });
    expect((await ca.currentResponder('ca', 'intermediate'))?.serial).toBe('a1');
    expect((await ca.beginCrl('ca', 'intermediate')).revoked.map((r) => r.serial)).toStrictEqual(['a2', '103', '105', '20a', 'a3']);
  } finally {
    await store.close();
  }
});
