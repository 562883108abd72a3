/**
 * An issued certificate made durable by the issuing call's audit record instead of a sync of the
 * CA store's own: the entry below goes into that record (`additionalEventData`), which the audit
 * trail writes and syncs before the call is answered; the store commits the row without waiting
 * for the disk (`CertificateJournal.insert`). A crash of the process loses nothing (the row is in
 * the file); a crash of the machine may lose the unsynced row, never the record, and the server
 * restores such rows from the records at its next start, before it serves (app.ts) — so a
 * certificate anyone was handed is listed, answered for by OCSP and revocable, as before.
 *
 * What keeps this sound:
 * - the row is committed before the record is queued, so any record on disk names a row that was
 *   committed (and is lost only with unsynced WAL frames), and a record whose call failed after
 *   the commit restores a row that existed anyway;
 * - a revocation (or any other write) commits durably, and a WAL sync makes every earlier frame
 *   durable too: a revoked certificate's row, revocation and all, never needs restoring, and a
 *   row that exists is never overwritten by a restore;
 * - each chain's mark (`ca_audit_marks`) names a sequence all of whose certificates were
 *   committed before the mark was: the mark is durable only with them, so the records after it
 *   are all a restore must read;
 * - only where the audit trail promises a durable record before the answer (a chained trail
 *   failing closed) and the store is SQLite in this process's hands; `--audit off`, a trail
 *   failing open, PostgreSQL (whose server may lose commits while the nodes keep running) and
 *   the CLI insert durably as before.
 *
 * Format, versioned: `{ v: 1, caName, serial, issuer, kind, subject, notBefore, notAfter,
 * issuedAt, certificate }`, times in epoch milliseconds, the DER as base64 cut into strings of
 * at most {@link CHUNK} characters (the audit trail cuts longer nested strings), the subject
 * (empty for a certificate named only in subjectAltName) left out past that length too.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { CERTIFICATE_PROFILES, type IssuedCertificateRecord, type IssuedKind } from './model.js';

const VERSION = 1;
const CHUNK = 1000;
/** A leaf, chunked: far more than any certificate the CA signs (CSRs are at most 32 KiB). */
const MAX_CHUNKS = 48;
/**
 * The longest subject an entry carries as text: the trail cuts nested strings past 1024
 * characters, and a subject is the CSR's choice (up to its 32 KiB). A longer one is left out and
 * read back from the certificate.
 */
const MAX_SUBJECT_TEXT = CHUNK;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const KINDS: readonly string[] = [...CERTIFICATE_PROFILES, 'intermediate-ca', 'ocsp-responder'];

export interface JournalEntry {
  v: number;
  caName: string;
  serial: string;
  issuer: string;
  kind: string;
  /** Absent when longer than {@link MAX_SUBJECT_TEXT}: the certificate's own subject is read. */
  subject?: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  certificate: string[];
}

export function journalEntry(record: IssuedCertificateRecord): JournalEntry {
  const base64 = Buffer.from(record.certificate.buffer, record.certificate.byteOffset, record.certificate.byteLength).toString('base64');
  const certificate: string[] = [];
  for (let i = 0; i < base64.length; i += CHUNK) certificate.push(base64.slice(i, i + CHUNK));
  return {
    v: VERSION,
    caName: record.caName,
    serial: record.serial,
    issuer: record.issuer,
    kind: record.kind,
    ...(record.subject.length <= MAX_SUBJECT_TEXT ? { subject: record.subject } : {}),
    notBefore: record.notBefore.getTime(),
    notAfter: record.notAfter.getTime(),
    issuedAt: record.issuedAt.getTime(),
    certificate,
  };
}

/** The record an entry describes, or undefined for anything that is not a well-formed entry. */
export function readJournalEntry(value: unknown): IssuedCertificateRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Partial<Record<keyof JournalEntry, unknown>>;
  if (e.v !== VERSION) return undefined;
  const strings = [e.caName, e.serial] as unknown[];
  if (!strings.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 4096)) return undefined;
  // An empty subject is a certificate's right (its names in subjectAltName alone, RFC 5280).
  if (e.subject !== undefined && typeof e.subject !== 'string') return undefined;
  if (e.issuer !== 'intermediate' && e.issuer !== 'root') return undefined;
  if (typeof e.kind !== 'string' || !KINDS.includes(e.kind)) return undefined;
  const times = [e.notBefore, e.notAfter, e.issuedAt];
  if (!times.every((t) => typeof t === 'number' && Number.isSafeInteger(t))) return undefined;
  const chunks = e.certificate;
  if (!Array.isArray(chunks) || chunks.length === 0 || chunks.length > MAX_CHUNKS || !chunks.every((c) => typeof c === 'string' && c.length <= CHUNK && BASE64.test(c)))
    return undefined;
  const der = Buffer.from((chunks as string[]).join(''), 'base64');
  // A DER SEQUENCE, not whatever base64 decoding made of a cut or edited string.
  if (der.length < 2 || der[0] !== 0x30) return undefined;
  // Written by an earlier version past the cut, or left out: the certificate says it.
  const subject = typeof e.subject === 'string' && e.subject.length <= MAX_SUBJECT_TEXT ? e.subject : subjectOf(der);
  if (subject === undefined) return undefined;
  return {
    caName: e.caName as string,
    serial: e.serial as string,
    issuer: e.issuer,
    kind: e.kind as IssuedKind,
    subject,
    notBefore: new Date(e.notBefore as number),
    notAfter: new Date(e.notAfter as number),
    issuedAt: new Date(e.issuedAt as number),
    certificate: new Uint8Array(der),
  };
}

/** The subject of a certificate as the CA writes it (the CSR's subject, which it copies), or undefined for DER that is not one. */
function subjectOf(der: Buffer): string | undefined {
  try {
    return new x509.X509Certificate(der).subject;
  } catch {
    return undefined;
  }
}
