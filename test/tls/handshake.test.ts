/**
 * Handshakes against an HTTPS server whose keys are in the SoftHSM2 test token: real curl and
 * openssl clients, RSA and ECDSA, TLS 1.2 and 1.3, the negotiated signature algorithm, SNI,
 * recovery from a lost session and many concurrent handshakes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHsmHttpsServer, generateTlsKey, hsmTlsStats } from '../../src/tls/index.js';
import { closeTokenSessions, createTestCa, listen, run, sClient, testHsm, uniqueLabel } from './support.js';

const hsm = testHsm();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-'));
const caFile = join(dir, 'ca.pem');
let rsaPort = 0;
let ecPort = 0;
let sniPort = 0;
let rsaKeyUri = '';
const servers: https.Server[] = [];

beforeAll(async () => {
  const ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const rsa = generateTlsKey(hsm, uniqueLabel('tls-rsa'), 'RSA_2048');
  const ec = generateTlsKey(hsm, uniqueLabel('tls-ec'), 'ECC_NIST_P256');
  const ec384 = generateTlsKey(hsm, uniqueLabel('tls-ec384'), 'ECC_NIST_P384');
  rsaKeyUri = rsa.keyUri;
  const rsaCert = await ca.issue(rsa.spki, ['localhost', '127.0.0.1']);
  const ecCert = await ca.issue(ec.spki, ['localhost', '127.0.0.1']);
  const handler = (_req: unknown, res: { end(body: string): void }) => res.end('hello from the HSM\n');
  const serve = async (certificates: Array<{ keyUri: string; cert: string }>) => {
    const server = createHsmHttpsServer({ hsm, certificates, sessionResumption: false }, handler);
    servers.push(server);
    return listen(server);
  };
  rsaPort = await serve([{ keyUri: rsa.keyUri, cert: rsaCert }]);
  ecPort = await serve([{ keyUri: ec.keyUri, cert: ecCert }]);
  sniPort = await serve([
    { keyUri: rsa.keyUri, cert: await ca.issue(rsa.spki, ['rsa.test']) },
    { keyUri: ec384.keyUri, cert: await ca.issue(ec384.spki, ['ec.test']) },
  ]);
});

afterAll(() => {
  for (const server of servers) server.close();
});

describe('TLS handshakes signed in the HSM', () => {
  it.each([
    ['RSA', '1.2'],
    ['RSA', '1.3'],
    ['ECDSA', '1.2'],
    ['ECDSA', '1.3'],
  ])('curl completes a %s handshake over TLS %s', async (kind, version) => {
    const port = kind === 'RSA' ? rsaPort : ecPort;
    const before = hsmTlsStats().signs;
    const { stdout } = await run('curl', ['-sS', '--cacert', caFile, `--tlsv${version}`, '--tls-max', version, `https://localhost:${port}/`]);
    expect(stdout).toBe('hello from the HSM\n');
    expect(hsmTlsStats().signs).toBe(before + 1);
  });

  it.each([
    ['TLS 1.3 RSA-PSS', () => rsaPort, ['-tls1_3'], /Peer signature type: RSA-PSS/, /Peer signing digest: SHA256/],
    ['TLS 1.2 RSA-PSS SHA-384', () => rsaPort, ['-tls1_2', '-sigalgs', 'rsa_pss_rsae_sha384'], /Peer signature type: RSA-PSS/, /Peer signing digest: SHA384/],
    ['TLS 1.2 RSA PKCS#1 v1.5', () => rsaPort, ['-tls1_2', '-sigalgs', 'RSA+SHA256'], /Peer signature type: RSA\n/, /Peer signing digest: SHA256/],
    ['TLS 1.2 RSA PKCS#1 v1.5 SHA-512', () => rsaPort, ['-tls1_2', '-sigalgs', 'RSA+SHA512'], /Peer signature type: RSA\n/, /Peer signing digest: SHA512/],
    ['TLS 1.3 ECDSA P-256', () => ecPort, ['-tls1_3'], /Peer signature type: ECDSA/, /Peer signing digest: SHA256/],
    ['TLS 1.2 ECDSA SHA-384', () => ecPort, ['-tls1_2', '-sigalgs', 'ECDSA+SHA384'], /Peer signature type: ECDSA/, /Peer signing digest: SHA384/],
  ])('openssl s_client negotiates %s', async (_name, port, args, type, digest) => {
    const out = await sClient(port(), caFile, args);
    expect(out).toMatch(/Verify return code: 0 \(ok\)/);
    expect(out).toMatch(type);
    expect(out).toMatch(digest);
  });

  it('refuses RSA key exchange rather than decrypting with the HSM key', async () => {
    const out = await sClient(rsaPort, caFile, ['-tls1_2', '-cipher', 'AES128-GCM-SHA256']);
    expect(out).toMatch(/Cipher is \(NONE\)/);
    expect(out).toMatch(/alert handshake failure/);
  });

  it('serves the certificate that matches the SNI name, each signed by its own HSM key', async () => {
    const rsa = await sClient(sniPort, caFile, ['-tls1_3', '-servername', 'rsa.test']);
    expect(rsa).toMatch(/subject=CN ?= ?rsa\.test/);
    expect(rsa).toMatch(/Peer signature type: RSA-PSS/);
    const ec = await sClient(sniPort, caFile, ['-tls1_3', '-servername', 'ec.test']);
    expect(ec).toMatch(/subject=CN ?= ?ec\.test/);
    expect(ec).toMatch(/Peer signature type: ECDSA/);
    expect(ec).toMatch(/Peer signing digest: SHA384/);
  });

  it('serves the first certificate for a name that no certificate covers', async () => {
    const out = await sClient(sniPort, caFile, ['-tls1_3', '-servername', 'other.test']);
    expect(out).toMatch(/subject=CN ?= ?rsa\.test/);
    expect(out).toMatch(/Peer signature type: RSA-PSS/);
  });

  it('recovers when the token session is invalidated between handshakes', async () => {
    const { reconnects } = hsmTlsStats();
    closeTokenSessions(hsm);
    const { stdout } = await run('curl', ['-sS', '--cacert', caFile, `https://localhost:${rsaPort}/`]);
    expect(stdout).toBe('hello from the HSM\n');
    expect(hsmTlsStats().reconnects).toBe(reconnects + 1);
  });

  const get = (port: number) =>
    new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', servername: 'localhost', port, agent: false, ca: readFileSync(caFile) }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });

  it('keeps working under many concurrent handshakes, one signature each', async () => {
    const before = hsmTlsStats().signs;
    const count = 60;
    const bodies = await Promise.all(Array.from({ length: count }, (_, i) => get(i % 2 ? rsaPort : ecPort)));
    expect(bodies.every((b) => b === 'hello from the HSM\n')).toBe(true);
    expect(hsmTlsStats().signs - before).toBe(count);
  });

  it('recovers from sessions invalidated again and again under concurrent traffic', async () => {
    const before = hsmTlsStats();
    const requests = Array.from({ length: 40 }, (_, i) => get(i % 2 ? rsaPort : ecPort));
    const timer = setInterval(() => closeTokenSessions(hsm), 5);
    try {
      const bodies = await Promise.all(requests);
      expect(bodies.every((b) => b === 'hello from the HSM\n')).toBe(true);
    } finally {
      clearInterval(timer);
    }
    const after = hsmTlsStats();
    expect(after.signs - before.signs).toBe(40);
    expect(after.reconnects).toBeGreaterThan(before.reconnects);
  });

  it('keeps the private key sensitive and never extractable in the token', async () => {
    const label = decodeURIComponent(/object=([^;]+)/.exec(rsaKeyUri)![1]!);
    const pin = readFileSync(hsm.pin && 'file' in hsm.pin ? hsm.pin.file : '', 'utf8');
    // A throwaway test PIN on argv: acceptable for the per-run test token only.
    const { stdout } = await run('pkcs11-tool', ['--module', hsm.modulePath, '--token-label', hsm.token.label!, '--login', '--pin', pin, '--list-objects', '--type', 'privkey', '--label', label]);
    expect(stdout).toMatch(/Access:\s+sensitive, always sensitive, never extractable/);
    expect(stdout).toMatch(/Usage:\s+sign\n/);
  });
});
