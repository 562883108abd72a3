/**
 * The CA engine against the real service (SoftHSM2 token, KMS API in-process through SigV4)
 * for every key spec and profile, judged by tools nobody here wrote: `openssl verify`,
 * `openssl x509 -text`, `openssl crl -verify`, `openssl ocsp` against the served responder,
 * zlint and GnuTLS certtool.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa, issueCertificate, revokeCertificate, type CaKeySpec, type CertificateProfileName } from '../../src/ca/index.js';
import { startServer, type RunningServer } from '../support/server.js';
import { caTools, certtoolVerify, opensslCsr, pemBlocks, run, writePem, zlintErrors, type LeafKey } from './support.js';

let server: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-certs-'));

beforeAll(async () => {
  caTools();
  server = await startServer();
}, 600_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SIGNATURE: Record<CaKeySpec, RegExp> = {
  ECC_NIST_P384: /Signature Algorithm: ecdsa-with-SHA384/,
  ECC_NIST_P256: /Signature Algorithm: ecdsa-with-SHA256/,
  RSA_3072: /Signature Algorithm: sha256WithRSAEncryption/,
  RSA_4096: /Signature Algorithm: sha256WithRSAEncryption/,
};

/** Per profile: the leaf key, openssl's purpose, the EKU and KU lines, GnuTLS's purpose OID. */
const PROFILE_CASES: Array<{
  profile: CertificateProfileName;
  key: LeafKey;
  purpose: string | undefined;
  eku: RegExp;
  ku: RegExp;
  oid: string;
}> = [
  { profile: 'tls-server', key: 'ec-p256', purpose: 'sslserver', eku: /TLS Web Server Authentication/, ku: /Key Usage: critical\s+Digital Signature\s/, oid: '1.3.6.1.5.5.7.3.1' },
  { profile: 'tls-client', key: 'rsa-2048', purpose: 'sslclient', eku: /TLS Web Client Authentication/, ku: /Key Usage: critical\s+Digital Signature\s/, oid: '1.3.6.1.5.5.7.3.2' },
  // OpenSSL 3.0 has no code-signing purpose: the chain is verified without one, the EKU read from the text.
  { profile: 'code-signing', key: 'ec-p384', purpose: undefined, eku: /Code Signing/, ku: /Key Usage: critical\s+Digital Signature\s/, oid: '1.3.6.1.5.5.7.3.3' },
];

describe('the linter itself', () => {
  it('reports an error on a CA certificate without keyCertSign (so a clean result means something)', async () => {
    const key = join(dir, 'bad.key');
    const cert = join(dir, 'bad.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=Bad CA/O=x/C=US', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=digitalSignature', '-days', '30', '-out', cert]);
    expect((await zlintErrors(cert)).join('\n')).toMatch(/e_ca_key_cert_sign_not_set/);
  });
});

const text = async (file: string) => (await run('openssl', ['x509', '-in', file, '-noout', '-text'])).stdout;

describe.each(['ECC_NIST_P384', 'ECC_NIST_P256', 'RSA_3072', 'RSA_4096'] as const)('a %s CA', (keySpec) => {
  const name = `certs-${keySpec.toLowerCase().replaceAll('_', '-')}`;
  const files = { root: '', intermediate: '', leaves: {} as Record<string, string> };
  const serials: Record<string, string> = {};

  beforeAll(async () => {
    const created = await initCa(server.app.ca, {
      name,
      subject: `CN=${keySpec} Test Root CA,O=hsmkms tests,C=US`,
      keySpec,
      baseUrl: server.endpoint,
    });
    files.root = writePem(dir, `${name}-root.pem`, created.rootPem);
    files.intermediate = writePem(dir, `${name}-intermediate.pem`, created.intermediatePem);
  }, 300_000);

  it('has a self-signed root and an intermediate with the extensions of a two-tier CA', async () => {
    const root = await text(files.root);
    expect(root).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(root).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\s/);
    expect(root).toMatch(/Subject Key Identifier/);
    expect(root).toMatch(/Authority Key Identifier/);
    expect(root).toMatch(SIGNATURE[keySpec]);
    const intermediate = await text(files.intermediate);
    expect(intermediate).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(intermediate).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\s/);
    expect(intermediate).toContain(`URI:${server.endpoint}/ca/${name}/root.crl`);
    expect(intermediate).toContain(`OCSP - URI:${server.endpoint}/ca/${name}/ocsp`);
    expect(intermediate).toContain(`CA Issuers - URI:${server.endpoint}/ca/${name}/root.cer`);
    expect(intermediate).toMatch(new RegExp(`Issuer: CN ?= ?${keySpec} Test Root CA`));
    expect(intermediate).toMatch(new RegExp(`Subject: CN ?= ?${keySpec} Test Root CA Issuing CA`));
    // The intermediate's AKI is the root's SKI.
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(root)![1];
    expect(/Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(intermediate)![1]).toBe(ski);
    const { stdout } = await run('openssl', ['verify', '-CAfile', files.root, files.intermediate]);
    expect(stdout).toMatch(/: OK/);
  });

  it.each(PROFILE_CASES)('issues $profile certificates that openssl, zlint and certtool accept', async ({ profile, key, purpose, eku, ku, oid }) => {
    const sans = profile === 'code-signing' ? [] : ['DNS:app.example.com', 'DNS:www.app.example.com'];
    const csr = await opensslCsr(dir, `${name}-${profile}`, key, '/CN=app.example.com', sans);
    const issued = await issueCertificate(server.app.ca, { caName: name, csr: readFileSync(csr), profile });
    serials[profile] = issued.record.serial;
    const blocks = pemBlocks(issued.chainPem);
    expect(blocks).toHaveLength(2);
    const leaf = writePem(dir, `${name}-${profile}.pem`, blocks[0]!);
    const chain = writePem(dir, `${name}-${profile}-chain.pem`, issued.chainPem);
    files.leaves[profile] = leaf;

    const verifyArgs = ['verify', '-CAfile', files.root, '-untrusted', files.intermediate, ...(purpose ? ['-purpose', purpose] : []), leaf];
    expect((await run('openssl', verifyArgs)).stdout).toMatch(/: OK/);

    const leafText = await text(leaf);
    expect(leafText).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(leafText).toMatch(ku);
    expect(leafText).toMatch(eku);
    if (sans.length > 0) expect(leafText).toMatch(/DNS:app\.example\.com, DNS:www\.app\.example\.com/);
    expect(leafText).toContain(`URI:${server.endpoint}/ca/${name}/crl`);
    expect(leafText).toContain(`CA Issuers - URI:${server.endpoint}/ca/${name}/intermediate.cer`);
    expect(leafText).toMatch(SIGNATURE[keySpec]);
    // 16 serial octets, the first 0x40–0x7f: positive, 126 random bits.
    expect(issued.record.serial).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect((await run('openssl', ['x509', '-in', leaf, '-noout', '-serial'])).stdout.trim()).toBe(`serial=${issued.record.serial.toUpperCase()}`);

    expect(await zlintErrors(leaf)).toEqual([]);
    expect(await certtoolVerify(files.root, chain, oid)).toMatch(/Chain verification output: Verified/);
  });

  it('lints clean: root, intermediate and OCSP responder certificates', async () => {
    expect(await zlintErrors(files.root)).toEqual([]);
    expect(await zlintErrors(files.intermediate)).toEqual([]);
    for (const tier of ['root', 'intermediate'] as const) {
      const responder = await server.app.ca.store.currentResponder(name, tier);
      expect(responder, tier).toBeDefined();
      const file = join(dir, `${name}-${tier}-responder.der`);
      writeFileSync(file, responder!.certificate);
      const pem = (await run('openssl', ['x509', '-inform', 'DER', '-in', file])).stdout;
      const pemFile = writePem(dir, `${name}-${tier}-responder.pem`, pem);
      expect(await zlintErrors(pemFile)).toEqual([]);
      const responderText = await text(pemFile);
      expect(responderText).toMatch(/OCSP Signing/);
      expect(responderText).toMatch(/OCSP No Check/);
    }
  });

  it('answers OCSP good, then revoked with time and reason; the CRL lists the serial with its reason', async () => {
    const ocsp = async (leaf: string) => {
      const { stdout, stderr } = await run('openssl', ['ocsp', '-issuer', files.intermediate, '-cert', leaf, '-url', `${server.endpoint}/ca/${name}/ocsp`, '-CAfile', files.root]);
      return stdout + stderr;
    };
    const leaf = files.leaves['tls-client']!;
    const before = await ocsp(leaf);
    expect(before).toMatch(/Response verify OK/);
    expect(before).toMatch(/: good/);

    await revokeCertificate(server.app.ca, { caName: name, serial: serials['tls-client']!, reason: 'keyCompromise' });
    const after = await ocsp(leaf);
    expect(after).toMatch(/Response verify OK/);
    expect(after).toMatch(/: revoked/);
    expect(after).toMatch(/Reason: keyCompromise/);
    expect(after).toMatch(/Revocation Time: /);
    // The other leaves are untouched.
    expect(await ocsp(files.leaves['tls-server']!)).toMatch(/: good/);

    const crl = join(dir, `${name}.crl`);
    const response = await fetch(`${server.endpoint}/ca/${name}/crl`);
    expect(response.headers.get('content-type')).toBe('application/pkix-crl');
    writeFileSync(crl, Buffer.from(await response.arrayBuffer()));
    const { stdout, stderr } = await run('openssl', ['crl', '-inform', 'DER', '-in', crl, '-CAfile', files.intermediate, '-noout', '-text', '-verify']);
    expect(stderr + stdout).toMatch(/verify OK/);
    expect(stdout).toContain(`Serial Number: ${serials['tls-client']!.toUpperCase()}`);
    expect(stdout).toMatch(/CRL Reason Code:\s+Key Compromise/);
    expect(stdout).toMatch(/X509v3 CRL Number:\s+\d+/);
    expect(stdout).toMatch(/Next Update: /);
    expect(stdout).not.toContain(serials['tls-server']!.toUpperCase());
  });
});
