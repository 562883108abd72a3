/**
 * Handshakes against an HTTPS server whose keys are in the SoftHSM2 test token: real curl and
 * openssl clients, RSA and ECDSA, TLS 1.2 and 1.3, the negotiated signature algorithm, SNI,
 * recovery from a lost session and many concurrent handshakes; on SoftHSM2 the signatures come
 * from a session copy of the key (re-made after a lost session, never stored in the token), and
 * from the stored key when the token refuses the copy (CKA_COPYABLE false).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native/addon.js';
import { createHsmHttpsServer, generateTlsKey, hsmTlsStats } from '../../src/tls/index.js';
import { closeTokenSessions, createTestCa, listen, run, sClient, testHsm, tokenSlot, uniqueLabel, type TestCa } from './support.js';

const hsm = testHsm();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-'));
const caFile = join(dir, 'ca.pem');
let rsaPort = 0;
let ecPort = 0;
let sniPort = 0;
let rsaKeyUri = '';
let ca: TestCa;
const servers: https.Server[] = [];
const handler = (_req: unknown, res: { end(body: string): void }) => res.end('hello from the HSM\n');

beforeAll(async () => {
  ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const rsa = generateTlsKey(hsm, uniqueLabel('tls-rsa'), 'RSA_2048');
  const ec = generateTlsKey(hsm, uniqueLabel('tls-ec'), 'ECC_NIST_P256');
  const ec384 = generateTlsKey(hsm, uniqueLabel('tls-ec384'), 'ECC_NIST_P384');
  rsaKeyUri = rsa.keyUri;
  const rsaCert = await ca.issue(rsa.spki, ['localhost', '127.0.0.1']);
  const ecCert = await ca.issue(ec.spki, ['localhost', '127.0.0.1']);
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

/** The test PIN (a throwaway, per-run token). */
function testPin(): string {
  return readFileSync(hsm.pin && 'file' in hsm.pin ? hsm.pin.file : '', 'utf8');
}

/** Private and public key objects in the token (not this process's session objects) labelled `label`, as pkcs11-tool lists them. */
async function tokenObjects(label: string): Promise<{ privateKeys: number; publicKeys: number }> {
  // A throwaway test PIN on argv: acceptable for the per-run test token only.
  const { stdout } = await run('pkcs11-tool', ['--module', hsm.modulePath, '--token-label', hsm.token.label!, '--login', '--pin', testPin(), '--list-objects']);
  // One block per object: a heading line, then indented attributes (its label among them).
  const objects = stdout.split(/^(?=\S)/m).filter((block) => block.split('\n').some((line) => /^\s+label:\s+(.*)$/.exec(line)?.[1] === label));
  const count = (kind: string) => objects.filter((block) => block.startsWith(kind)).length;
  return { privateKeys: count('Private Key Object'), publicKeys: count('Public Key Object') };
}

/** A P-256 key pair made with pkcs11js whose private half may not be copied (CKA_COPYABLE false). */
function generateUncopyableKey(label: string): string {
  const { module: m, slot } = tokenSlot(hsm);
  const session = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    try {
      m.C_Login(session, pkcs11js.CKU_USER, testPin());
    } catch (e) {
      // The addon's session in this process is logged in already; login state is per application.
      if ((e as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw e;
    }
    const id = Buffer.from(label);
    const p256 = Buffer.from('06082a8648ce3d030107', 'hex');
    m.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_EC_PARAMS, value: p256 },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_COPYABLE, value: false },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_ID, value: id },
      ],
    );
  } finally {
    m.C_CloseSession(session);
  }
  return `pkcs11:token=${encodeURIComponent(hsm.token.label!)};object=${encodeURIComponent(label)};type=private`;
}

describe('session working copies (SoftHSM2)', () => {
  it('sign real handshakes with a session copy, re-made after a lost session, and store nothing in the token', async () => {
    const label = uniqueLabel('tls-copy');
    const key = generateTlsKey(hsm, label, 'ECC_NIST_P256');
    expect(await tokenObjects(label)).toEqual({ privateKeys: 1, publicKeys: 1 });
    const before = hsmTlsStats();
    const server = createHsmHttpsServer({ hsm, certificates: [{ keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) }], sessionResumption: false }, handler);
    try {
      const port = await listen(server);
      // Loading the key made the copy; the handshakes sign with it.
      expect(hsmTlsStats().sessionCopies).toBe(before.sessionCopies + 1);
      const { stdout } = await run('curl', ['-sS', '--cacert', caFile, '--tlsv1.3', `https://localhost:${port}/`]);
      expect(stdout).toBe('hello from the HSM\n');
      const out = await sClient(port, caFile, ['-tls1_2', '-sigalgs', 'ECDSA+SHA256']);
      expect(out).toMatch(/Verify return code: 0 \(ok\)/);
      expect(out).toMatch(/Peer signature type: ECDSA/);
      const signed = hsmTlsStats();
      expect(signed.signs - before.signs).toBe(2);
      expect(signed.sessionCopies).toBe(before.sessionCopies + 1);
      expect(signed.copyRefusals).toBe(before.copyRefusals);

      // The copy died with the session; the next handshake reconnects and copies the key again.
      closeTokenSessions(hsm);
      const again = await run('curl', ['-sS', '--cacert', caFile, `https://localhost:${port}/`]);
      expect(again.stdout).toBe('hello from the HSM\n');
      const after = hsmTlsStats();
      expect(after.reconnects).toBe(signed.reconnects + 1);
      expect(after.sessionCopies).toBe(signed.sessionCopies + 1);
      expect(after.signs).toBe(signed.signs + 1);
    } finally {
      await new Promise((r) => server.close(r));
    }
    // The copies were session objects: the token still holds the one key pair, as generated.
    expect(await tokenObjects(label)).toEqual({ privateKeys: 1, publicKeys: 1 });
  });

  it('sign with the stored key when the token refuses to copy it (CKA_COPYABLE false)', async () => {
    const label = uniqueLabel('tls-nocopy');
    const keyUri = generateUncopyableKey(label);
    const { spki } = loadAddon().describeKey(keyUri);
    const before = hsmTlsStats();
    const server = createHsmHttpsServer({ hsm, certificates: [{ keyUri, cert: await ca.issue(spki, ['localhost']) }], sessionResumption: false }, handler);
    try {
      const port = await listen(server);
      const { stdout } = await run('curl', ['-sS', '--cacert', caFile, `https://localhost:${port}/`]);
      expect(stdout).toBe('hello from the HSM\n');
      const out = await sClient(port, caFile, ['-tls1_3']);
      expect(out).toMatch(/Verify return code: 0 \(ok\)/);
      expect(out).toMatch(/Peer signature type: ECDSA/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    const after = hsmTlsStats();
    expect(after.copyRefusals).toBe(before.copyRefusals + 1);
    expect(after.sessionCopies).toBe(before.sessionCopies);
    expect(after.signs - before.signs).toBe(2);
    expect(await tokenObjects(label)).toEqual({ privateKeys: 1, publicKeys: 1 });
  });
});
