/** The journal entry an issuance's audit record carries (src/ca/certificate-journal.ts): read back exactly, anything else refused. */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sanitizeAuditValue } from '../../src/core/audit-parameters.js';
import { run } from './support.js';
import { journalEntry, readJournalEntry } from '../../src/ca/certificate-journal.js';
import type { IssuedCertificateRecord } from '../../src/ca/model.js';

const record: IssuedCertificateRecord = {
  caName: 'web',
  serial: '5f0e3a',
  issuer: 'intermediate',
  kind: 'tls-client',
  subject: 'CN=a.example.com,O=Example',
  notBefore: new Date(1_790_000_000_000),
  notAfter: new Date(1_790_086_400_000),
  issuedAt: new Date(1_790_000_000_123),
  // A DER SEQUENCE long enough to be cut into several strings.
  certificate: new Uint8Array([0x30, 0x82, 0x09, 0x00, ...Array.from({ length: 2300 }, (_, i) => i % 251)]),
};

describe('certificate journal entries', () => {
  it('round-trip through JSON, the DER cut into strings the audit trail keeps whole', () => {
    const entry = journalEntry(record);
    expect(entry.certificate.length).toBeGreaterThan(1);
    for (const chunk of entry.certificate) expect(chunk.length).toBeLessThanOrEqual(1000);
    expect(readJournalEntry(JSON.parse(JSON.stringify(entry)))).toEqual(record);
  });

  it('refuses anything that is not a whole entry of this version', () => {
    const entry = JSON.parse(JSON.stringify(journalEntry(record))) as Record<string, unknown>;
    const variants: unknown[] = [
      undefined,
      null,
      'text',
      { ...entry, v: 2 },
      { ...entry, caName: '' },
      { ...entry, serial: 5 },
      { ...entry, issuer: 'leaf' },
      { ...entry, kind: 'anything' },
      { ...entry, issuedAt: '2026-12-02' },
      { ...entry, notAfter: 1.5 },
      { ...entry, certificate: [] },
      { ...entry, certificate: 'MIIB' },
      { ...entry, certificate: ['x'.repeat(1001)] },
      { ...entry, certificate: [Buffer.from([0x02, 0x01, 0x00]).toString('base64')] },
      { ...entry, certificate: [`…[truncated: 2000 characters]`] },
    ];
    for (const variant of variants) expect(readJournalEntry(variant), JSON.stringify(variant)?.slice(0, 80)).toBeUndefined();
  });
});

describe('certificate journal entries through the audit trail', () => {
  // What the trail keeps of an entry (additionalEventData.issuedCertificate), cut as it cuts.
  const kept = (record: IssuedCertificateRecord) =>
    (sanitizeAuditValue({ issuedCertificate: journalEntry(record) }) as { issuedCertificate: unknown }).issuedCertificate;

  it('restores a certificate named in subjectAltName alone (an empty subject)', () => {
    // Refused as unreadable before: such a certificate was never restored after a crash (and so could not be revoked).
    expect(readJournalEntry(kept({ ...record, subject: '' }))).toEqual({ ...record, subject: '' });
  });

  it('restores a subject longer than the trail keeps whole from the certificate itself', async () => {
    // A CSR chooses its subject, up to its 32 KiB; the trail cuts a nested string past 1024 characters.
    const dir = mkdtempSync(join(tmpdir(), 'hsmkms-journal-'));
    try {
      const units = Array.from({ length: 40 }, (_, i) => `/OU=${String(i).padStart(2, '0')}${'u'.repeat(58)}`).join('');
      const file = join(dir, 'long.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-subj', `${units}/CN=long.example.com`, '-days', '1', '-out', file]);
      const certificate = new x509.X509Certificate(readFileSync(file, 'utf8'));
      expect(certificate.subject.length).toBeGreaterThan(2000);
      const long = { ...record, subject: certificate.subject, certificate: new Uint8Array(certificate.rawData) };
      expect(readJournalEntry(kept(long))).toEqual(long);
      // An entry an earlier version wrote with the subject the trail had cut: the certificate's is taken.
      const cut = { ...journalEntry(long), subject: `${certificate.subject.slice(0, 1024)}…[truncated: ${certificate.subject.length} characters]` };
      expect(readJournalEntry(JSON.parse(JSON.stringify(cut)))).toEqual(long);
      // Left out, over DER that is no certificate: unreadable.
      const { subject: _subject, ...withoutSubject } = journalEntry(long);
      expect(readJournalEntry({ ...withoutSubject, certificate: journalEntry(record).certificate })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
