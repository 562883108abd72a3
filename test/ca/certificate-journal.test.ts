/** The journal entry an issuance's audit record carries (src/ca/certificate-journal.ts): read back exactly, anything else refused. */
import { describe, expect, it } from 'vitest';
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
