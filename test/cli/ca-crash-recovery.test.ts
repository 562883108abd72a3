/**
 * An issued certificate survives a crash of the machine although its row is committed without
 * a sync of its own (src/ca/certificate-journal.ts): `hsmkms serve` issues over the API, is
 * killed with SIGKILL, and the rows are then removed from the store as a lost, unsynced WAL tail
 * would leave it (a SIGKILL alone keeps them: they are in the file). After a restart the CA
 * lists them, OCSP answers `good` for them and one revoked then is on the CRL; a certificate
 * revoked before the crash is still revoked. The issuing calls' audit records carry the entries.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { lookupAuditEvents } from '../../src/audit/index.js';
import { hsmkms, serve, testTokenArgs, type Served } from '../support/cli.js';
import { opensslCsr, pemBlocks, run, writePem } from '../ca/support.js';

const credentials = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-crash-'));
const dataDir = join(dir, 'data');
const base = ['--data-dir', dataDir, ...testTokenArgs()];
const NAME = 'crash';
let rootFile: string;

function start(extra: string[] = []): Promise<Served> {
  return serve([...base, '--port', '0', '--log-level', 'warn', '--recycle-worker-after', 'off', ...extra], {
    HSMKMS_ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
    HSMKMS_ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  });
}

const client = (endpoint: string) => new HsmKmsClient({ endpoint, region: 'us-east-1', credentials });

async function killHard(served: Served): Promise<void> {
  const exited = once(served.child, 'exit');
  served.child.kill('SIGKILL');
  await exited;
}

/** What a machine crash may take: rows whose WAL frames were never synced (and, with them, any later mark). */
function loseRows(serials: string[]): void {
  const db = new Database(join(dataDir, 'hsmkms.sqlite'));
  try {
    const remove = db.prepare('DELETE FROM ca_certificates WHERE ca_name = ? AND serial = ?');
    for (const serial of serials) expect(remove.run(NAME, serial).changes).toBe(1);
    db.prepare('DELETE FROM ca_audit_marks').run();
  } finally {
    db.close();
  }
}

async function ocsp(endpoint: string, leaf: string, intermediate: string): Promise<string> {
  const { stdout, stderr } = await run('openssl', ['ocsp', '-issuer', intermediate, '-cert', leaf, '-url', `${endpoint}/ca/${NAME}/ocsp`, '-CAfile', rootFile]);
  return stdout + stderr;
}

beforeAll(async () => {
  const first = await start();
  try {
    const { stdout } = await hsmkms(['ca', 'init', ...base, '--name', NAME, '--subject', 'CN=Crash Root CA,O=hsmkms tests,C=US', '--base-url', 'http://127.0.0.1:1']);
    rootFile = writePem(dir, 'root.pem', stdout);
  } finally {
    await first.stop();
  }
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a machine crash after certificates were answered', () => {
  it('restores them from the audit trail before serving: listed, good in OCSP, revocable onto the CRL', async () => {
    const served = await start();
    const kms = client(served.endpoint);
    const issued: Array<{ serial: string; pem: string; chain: string }> = [];
    for (let i = 0; i < 3; i++) {
      // The last one named in subjectAltName alone (an empty subject, as RFC 5280 allows): its entry was refused as unreadable before.
      const subject = i === 2 ? '/' : `/CN=leaf${i}.example.com`;
      const csr = readFileSync(await opensslCsr(dir, `leaf${i}`, 'ec-p256', subject, [`DNS:leaf${i}.example.com`]), 'utf8');
      const out = await kms.call('IssueCertificate', { CaName: NAME, Csr: csr, Profile: 'tls-server', ValidityDays: 30 });
      issued.push({ serial: out.SerialNumber as string, pem: out.Certificate as string, chain: out.CertificateChain as string });
    }
    // Revoked before the crash: the revocation syncs (and with it every row before it).
    const csr = readFileSync(await opensslCsr(dir, 'early', 'ec-p256', '/CN=early.example.com', ['DNS:early.example.com']), 'utf8');
    const early = await kms.call('IssueCertificate', { CaName: NAME, Csr: csr, Profile: 'tls-server', ValidityDays: 30 });
    await kms.call('RevokeCertificate', { CaName: NAME, SerialNumber: early.SerialNumber, RevocationReason: 'KEY_COMPROMISE' });
    await killHard(served);

    // Each issuing call's record carries its certificate (what the restore reads).
    const records = lookupAuditEvents(join(dataDir, 'audit'), { eventName: 'HsmKms.IssueCertificate', maxResults: 50 }).events;
    for (const { serial } of issued) {
      const record = records.find((e) => (e.record as { additionalEventData?: { issuedCertificate?: { serial?: string } } }).additionalEventData?.issuedCertificate?.serial === serial);
      expect(record, serial).toBeDefined();
    }
    loseRows(issued.map((c) => c.serial));

    const restarted = await start();
    try {
      const again = client(restarted.endpoint);
      const listed = (await again.call('ListCertificates', { CaName: NAME, Limit: 100 })).Certificates as Array<Record<string, unknown>>;
      for (const { serial } of issued) expect(listed.find((c) => c.SerialNumber === serial), serial).toMatchObject({ Status: 'GOOD', Kind: 'tls-server' });
      expect(listed.find((c) => c.SerialNumber === early.SerialNumber)).toMatchObject({ Status: 'REVOKED' });

      const intermediate = writePem(dir, 'intermediate.pem', pemBlocks(issued[0]!.chain)[0]!);
      const good = await ocsp(restarted.endpoint, writePem(dir, 'leaf0.pem', issued[0]!.pem), intermediate);
      expect(good).toMatch(/Response verify OK/);
      expect(good).toMatch(/: good/);
      expect(await ocsp(restarted.endpoint, writePem(dir, 'early.pem', early.Certificate as string), intermediate)).toMatch(/: revoked/);

      await again.call('RevokeCertificate', { CaName: NAME, SerialNumber: issued[1]!.serial, RevocationReason: 'SUPERSEDED' });
      const crl = Buffer.from(await (await fetch(`${restarted.endpoint}/ca/${NAME}/crl`)).arrayBuffer());
      const crlFile = join(dir, 'crl.der');
      writeFileSync(crlFile, crl);
      const { stdout } = await run('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', intermediate, '-noout', '-text', '-verify']);
      expect(stdout.toLowerCase().replace(/\s+/g, ' ')).toContain(`serial number: ${issued[1]!.serial}`);
      expect(stdout.toLowerCase().replace(/\s+/g, ' ')).toContain(`serial number: ${(early.SerialNumber as string).toLowerCase()}`);
    } finally {
      await restarted.stop();
    }
  }, 300_000);

  it('leaves nothing to the audit trail where it fails open: the record carries no certificate (the row was committed durably)', async () => {
    const served = await start(['--audit-failure', 'open']);
    try {
      const csr = readFileSync(await opensslCsr(dir, 'open', 'ec-p256', '/CN=open.example.com', ['DNS:open.example.com']), 'utf8');
      const started = Date.now();
      await client(served.endpoint).call('IssueCertificate', { CaName: NAME, Csr: csr, Profile: 'tls-server', ValidityDays: 30 });
      // Newest first: this call's record.
      const [newest] = lookupAuditEvents(join(dataDir, 'audit'), { eventName: 'HsmKms.IssueCertificate', maxResults: 1 }).events;
      expect(newest!.time.getTime()).toBeGreaterThanOrEqual(started - 1000);
      expect(newest!.line).toContain('"signing"');
      expect(newest!.line).not.toContain('issuedCertificate');
    } finally {
      await served.stop();
    }
  }, 300_000);
});
