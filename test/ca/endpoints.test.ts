/**
 * Bad input and the served endpoints: malformed, oversize and hostile CSRs, unknown CA names
 * and serials, garbage OCSP requests (POST and GET) — each a clear error, never a 500 — plus
 * OCSP over GET, nonces, foreign issuers, and CRLs and responder certificates renewed ahead
 * of time.
 */
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaError, MAX_OCSP_SIGNING, answerOcsp, currentCrl, initCa, issueCertificate, listCertificates, revokeCertificate, type CaDeps } from '../../src/ca/index.js';
import { startServer, type RunningServer } from '../support/server.js';
import { opensslCsr, pemBlocks, run, writePem } from './support.js';

let server: RunningServer;
let ca: CaDeps;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-edges-'));
const NAME = 'edges';
let rootFile: string;
let intermediateFile: string;
let leafFile: string;
let goodCsr: string;

beforeAll(async () => {
  server = await startServer();
  ca = server.app.ca;
  const created = await initCa(ca, { name: NAME, subject: 'CN=Edges Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
  rootFile = writePem(dir, 'root.pem', created.rootPem);
  intermediateFile = writePem(dir, 'intermediate.pem', created.intermediatePem);
  goodCsr = await opensslCsr(dir, 'good', 'ec-p256', '/CN=good.example.com', ['DNS:good.example.com']);
  const issued = await issueCertificate(ca, { caName: NAME, csr: readFileSync(goodCsr, 'utf8') });
  leafFile = writePem(dir, 'leaf.pem', pemBlocks(issued.chainPem)[0]!);
}, 300_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The CaError a promise rejects with. */
async function refusal(promise: Promise<unknown>): Promise<CaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CaError);
  expect((error as CaError).message).not.toMatch(/\n/);
  return error as CaError;
}

describe('CSRs a caller controls', () => {
  const issue = (csr: string | Uint8Array, extra: Partial<Parameters<typeof issueCertificate>[1]> = {}) =>
    issueCertificate(ca, { caName: NAME, csr, ...extra });

  it('refuses malformed PEM and DER, empty and oversize input, with MalformedCSRException', async () => {
    const cases: Array<[string | Uint8Array, RegExp]> = [
      ['', /empty/],
      ['hello', /neither DER nor PEM/],
      ['-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----', /neither DER nor PEM/],
      ['-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', /does not hold a DER certificate request/],
      [new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), /not a well-formed PKCS#10/],
      [new Uint8Array([0x30, 0x82, 0xff, 0xff, 0x00]), /not a well-formed PKCS#10/],
      ['x'.repeat(40_000), /limit is 32768/],
      [new Uint8Array(40_000), /limit is 32768/],
    ];
    for (const [input, message] of cases) {
      const error = await refusal(issue(input));
      expect(error.type, String(message)).toBe('MalformedCSRException');
      expect(error.message).toMatch(message);
    }
  });

  it('accepts a DER CSR as well as PEM', async () => {
    const der = join(dir, 'good.der');
    await run('openssl', ['req', '-in', goodCsr, '-outform', 'DER', '-out', der]);
    const issued = await issue(readFileSync(der));
    expect(issued.record.subject).toBe('CN=good.example.com');
    // The same request with trailing bytes, or with its signature BIT STRING claiming unused bits
    // (DER: a signature has none), is not a well-formed request, though the signature bytes verify.
    const bytes = readFileSync(der);
    expect((await refusal(issue(Buffer.concat([bytes, Buffer.from([0])])))).message).toMatch(/not a well-formed PKCS#10/);
    // Where the signature BIT STRING is, from OpenSSL's own reading: "offset:d=1 hl=N l=… prim: BIT STRING".
    const { stdout } = await run('openssl', ['asn1parse', '-inform', 'DER', '-in', der]);
    const [, at, headerLength] = /^\s*(\d+):d=1\s+hl=(\d+)\s.*BIT STRING/m.exec(stdout)!;
    const unusedBits = Buffer.from(bytes);
    const unusedAt = Number(at) + Number(headerLength);
    expect(unusedBits[unusedAt]).toBe(0);
    unusedBits[unusedAt] = 3;
    expect((await refusal(issue(unusedBits))).message).toMatch(/not a well-formed PKCS#10/);
  });

  it('refuses what the profile does not allow, saying what to change', async () => {
    const ca1 = await opensslCsr(dir, 'ca-true', 'ec-p256', '/CN=x.example.com', ['DNS:x.example.com']);
    // A CSR asking for cA=TRUE.
    const caCsr = join(dir, 'ca-request.csr');
    await run('openssl', ['req', '-new', '-key', ca1.replace(/\.csr$/, '.key'), '-subj', '/CN=x.example.com', '-addext', 'subjectAltName=DNS:x.example.com', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', caCsr]);
    expect((await refusal(issue(readFileSync(caCsr, 'utf8')))).message).toMatch(/asks for a CA certificate/);
    const cnNotSan = await opensslCsr(dir, 'cn-not-san', 'ec-p256', '/CN=other.example.com', ['DNS:x.example.com']);
    expect((await refusal(issue(readFileSync(cnNotSan, 'utf8')))).message).toMatch(/common name 'other.example.com' is not among its subjectAltNames/);
    const email = await opensslCsr(dir, 'email', 'ec-p256', '/CN=x.example.com', ['DNS:x.example.com', 'email:a@example.com']);
    expect((await refusal(issue(readFileSync(email, 'utf8')))).message).toMatch(/tls-server profile does not take email/);
    const badDns = await opensslCsr(dir, 'bad-dns', 'ec-p256', '/CN=bad_name.example.com', ['DNS:bad_name.example.com']);
    expect((await refusal(issue(readFileSync(badDns, 'utf8')))).message).toMatch(/not a valid DNS name/);
    const weak = join(dir, 'weak.csr');
    await run('openssl', ['req', '-new', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(dir, 'weak.key'), '-subj', '/CN=w.example.com', '-addext', 'subjectAltName=DNS:w.example.com', '-out', weak]);
    expect((await refusal(issue(readFileSync(weak, 'utf8')))).message).toMatch(/RSA key has 1024 bits/);
    expect((await refusal(issue(readFileSync(goodCsr, 'utf8'), { days: 399 }))).message).toMatch(/1 to 398 days/);
    expect((await refusal(issue(readFileSync(goodCsr, 'utf8'), { profile: 'mystery' as 'tls-server' }))).message).toMatch(/Unknown profile/);
  });

  it('names unknown CAs, invalid CA names, unknown and malformed serials, repeated revocations, bad markers and taken CA names', async () => {
    expect((await refusal(issueCertificate(ca, { caName: 'nope', csr: readFileSync(goodCsr) }))).type).toBe('ResourceNotFoundException');
    expect((await refusal(issueCertificate(ca, { caName: '../etc', csr: readFileSync(goodCsr) }))).type).toBe('InvalidArgsException');
    const unknown = await refusal(revokeCertificate(ca, { caName: NAME, serial: '4f:00:00:00:00:00:00:00:00:00:00:00:00:00:00:0a' }));
    expect(unknown.type).toBe('ResourceNotFoundException');
    expect(unknown.message).toMatch(/no certificate with serial 4f00000000000000000000000000000a/);
    expect((await refusal(revokeCertificate(ca, { caName: NAME, serial: 'zz' }))).type).toBe('InvalidArgsException');
    expect((await refusal(revokeCertificate(ca, { caName: NAME, serial: '1'.repeat(10_000) }))).type).toBe('InvalidArgsException');
    const issued = await issueCertificate(ca, { caName: NAME, csr: readFileSync(goodCsr) });
    await revokeCertificate(ca, { caName: NAME, serial: issued.record.serial });
    expect((await refusal(revokeCertificate(ca, { caName: NAME, serial: issued.record.serial }))).type).toBe('RequestAlreadyProcessedException');
    expect((await refusal(listCertificates(ca, { caName: NAME, marker: "1'; drop table" }))).type).toBe('InvalidArgsException');
    const again = await refusal(initCa(ca, { name: NAME, subject: 'CN=Again', baseUrl: server.endpoint }));
    expect(again.type).toBe('ResourceAlreadyExistsException');
    expect(again.message).toBe(`A CA named '${NAME}' exists already.`);
  });

  it('pages through what it issued', async () => {
    const first = await listCertificates(ca, { caName: NAME, limit: 2 });
    expect(first.certificates).toHaveLength(2);
    expect(first.nextMarker).toBeDefined();
    const rest = await listCertificates(ca, { caName: NAME, limit: 1000, marker: first.nextMarker });
    const serials = [...first.certificates, ...rest.certificates].map((c) => c.serial);
    expect(new Set(serials).size).toBe(serials.length);
    expect(serials.length).toBeGreaterThanOrEqual(5);
  });
});

describe('served endpoints', () => {
  const url = (path: string) => `${server.endpoint}/ca/${NAME}${path}`;
  const ocspStatus = (body: ArrayBuffer) => AsnConvert.parse(body, OCSPResponse).responseStatus;

  it('serves the CA certificates (PEM chain, DER) and both CRLs', async () => {
    const root = await fetch(url('/root.cer'));
    expect(root.headers.get('content-type')).toBe('application/pkix-cert');
    expect(new x509.X509Certificate(await root.arrayBuffer()).toString('pem')).toBe(pemBlocks(readFileSync(rootFile, 'utf8'))[0]!.trim());
    const intermediate = await fetch(url('/intermediate.cer'));
    expect(new x509.X509Certificate(await intermediate.arrayBuffer()).subject).toMatch(/Edges Root Issuing CA/);
    const rootCrl = join(dir, 'root.crl');
    writeFileSync(rootCrl, Buffer.from(await (await fetch(url('/root.crl'))).arrayBuffer()));
    const { stdout, stderr } = await run('openssl', ['crl', '-inform', 'DER', '-in', rootCrl, '-CAfile', rootFile, '-noout', '-verify', '-issuer']);
    expect(stderr + stdout).toMatch(/verify OK/);
    expect(stdout).toMatch(/CN ?= ?Edges Root\b/);
  });

  it('answers unknown CA names with 404 and invalid ones with 400, as JSON, on every endpoint', async () => {
    for (const path of ['/ca.pem', '/root.cer', '/intermediate.cer', '/crl', '/root.crl']) {
      const missing = await fetch(`${server.endpoint}/ca/nope${path}`);
      expect(missing.status, path).toBe(404);
      expect(await missing.json()).toMatchObject({ __type: 'ResourceNotFoundException' });
      const invalid = await fetch(`${server.endpoint}/ca/-x${path}`);
      expect(invalid.status, path).toBe(400);
    }
    const ocsp = await fetch(`${server.endpoint}/ca/nope/ocsp`, { method: 'POST', body: 'x' });
    expect(ocsp.status).toBe(404);
  });

  it('answers garbage OCSP requests with malformedRequest, never a 500', async () => {
    const bodies = [Buffer.from('garbage'), Buffer.alloc(0), Buffer.from([0x30, 0x00]), Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(4000, 0x30)];
    for (const body of bodies) {
      const response = await fetch(url('/ocsp'), { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/ocsp-response');
      expect(ocspStatus(await response.arrayBuffer())).toBe(OCSPResponseStatus.malformedRequest);
    }
    for (const path of ['/ocsp/!!!', '/ocsp/%ZZ', '/ocsp/AAAA', `/ocsp/${'A'.repeat(20_000)}`]) {
      const response = await fetch(url(path));
      expect(response.status, path.slice(0, 20)).toBeLessThan(500);
      if (response.status === 200) expect(ocspStatus(await response.arrayBuffer())).toBe(OCSPResponseStatus.malformedRequest);
    }
    const oversize = await fetch(url('/ocsp'), { method: 'POST', body: Buffer.alloc(10_000, 1) });
    expect(oversize.status).toBe(413);
    expect(await oversize.json()).toMatchObject({ __type: 'InvalidArgsException' });
  });

  it('answers OCSP over GET (cacheable without a nonce) and echoes nonces over POST', async () => {
    const request = join(dir, 'get.req');
    await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leafFile, '-no_nonce', '-reqout', request]);
    const encoded = encodeURIComponent(readFileSync(request).toString('base64'));
    const response = await fetch(url(`/ocsp/${encoded}`));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/max-age=3600/);
    const responseFile = join(dir, 'get.resp');
    writeFileSync(responseFile, Buffer.from(await response.arrayBuffer()));
    const checked = await run('openssl', ['ocsp', '-respin', responseFile, '-issuer', intermediateFile, '-cert', leafFile, '-CAfile', rootFile, '-no_nonce']);
    expect(checked.stdout + checked.stderr).toMatch(/Response verify OK/);
    expect(checked.stdout).toMatch(/: good/);

    // openssl sends a nonce by default and warns when the response lacks it.
    const post = await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leafFile, '-url', url('/ocsp'), '-CAfile', rootFile, '-resp_text']);
    expect(post.stdout + post.stderr).toMatch(/OCSP Nonce/);
    expect(post.stdout + post.stderr).not.toMatch(/WARNING: no nonce/);
    expect(post.stdout + post.stderr).toMatch(/Response verify OK/);
  });

  it('says unknown for serials it never issued or that the other tier signed, unauthorized for foreign issuers', async () => {
    const ocsp = (args: string[]) =>
      run('openssl', ['ocsp', ...args, '-url', url('/ocsp'), '-CAfile', rootFile]).then(
        (r) => r.stdout + r.stderr,
        (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
      );
    const leafSerial = (await run('openssl', ['x509', '-in', leafFile, '-noout', '-serial'])).stdout.trim().slice('serial='.length);
    // Never issued, under the intermediate: signed "unknown".
    const never = await ocsp(['-issuer', intermediateFile, '-serial', '0x4f00000000000000000000000000000a']);
    expect(never).toMatch(/: unknown/);
    expect(never).toMatch(/Response verify OK/);
    // The leaf's serial under the root's name and key: the root never signed it.
    const wrongTier = await ocsp(['-issuer', rootFile, '-serial', `0x${leafSerial}`]);
    expect(wrongTier).toMatch(/: unknown/);
    expect(wrongTier).toMatch(/Response verify OK/);
    // The intermediate's own status comes from the root's responder.
    expect(await ocsp(['-issuer', rootFile, '-cert', intermediateFile])).toMatch(/: good/);
    // An issuer this CA does not know (and a CertID mixing our names with its key).
    const foreignKey = join(dir, 'foreign.key');
    const foreign = join(dir, 'foreign.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', foreignKey, '-subj', '/CN=Foreign', '-days', '2', '-out', foreign]);
    expect(await ocsp(['-issuer', foreign, '-serial', '0x01'])).toMatch(/Responder Error: unauthorized/);
    expect(await ocsp(['-issuer', foreign, '-cert', leafFile])).toMatch(/Responder Error: unauthorized/);
  });
});

describe('revoking the intermediate', () => {
  it('puts it on the root CRL with cACompromise, answers revoked for it, and stops issuance', async () => {
    const created = await initCa(ca, { name: 'retired', subject: 'CN=Retired Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
    const root = writePem(dir, 'retired-root.pem', created.rootPem);
    const intermediate = writePem(dir, 'retired-intermediate.pem', created.intermediatePem);
    const serial = (await run('openssl', ['x509', '-in', intermediate, '-noout', '-serial'])).stdout.trim().slice('serial='.length);
    expect((await refusal(revokeCertificate(ca, { caName: 'retired', serial: '00', reason: 'cACompromise' }))).type).toBe('ResourceNotFoundException');
    await revokeCertificate(ca, { caName: 'retired', serial, reason: 'cACompromise' });

    const crl = join(dir, 'retired-root.crl');
    writeFileSync(crl, Buffer.from(await (await fetch(`${server.endpoint}/ca/retired/root.crl`)).arrayBuffer()));
    const listed = await run('openssl', ['crl', '-inform', 'DER', '-in', crl, '-CAfile', root, '-noout', '-text', '-verify']);
    expect(listed.stdout + listed.stderr).toMatch(/verify OK/);
    expect(listed.stdout).toContain(`Serial Number: ${serial}`);
    expect(listed.stdout).toMatch(/CRL Reason Code:\s+CA Compromise/);

    const status = await run('openssl', ['ocsp', '-issuer', root, '-cert', intermediate, '-url', `${server.endpoint}/ca/retired/ocsp`, '-CAfile', root]);
    expect(status.stdout).toMatch(/: revoked/);
    expect(status.stdout).toMatch(/Reason: cACompromise/);
    expect(status.stdout + status.stderr).toMatch(/Response verify OK/);

    const refused = await refusal(issueCertificate(ca, { caName: 'retired', csr: readFileSync(goodCsr) }));
    expect(refused.type).toBe('InvalidStateException');
    expect(refused.message).toMatch(/issuing CA of 'retired' was revoked/);
  });
});

describe('what callers can make the HSM do', () => {
  it('answers a repeated nonce-less question from the cache until a revocation changes the answer', async () => {
    const csr = await opensslCsr(dir, 'cached', 'ec-p256', '/CN=cached.example.com', ['DNS:cached.example.com']);
    const issued = await issueCertificate(ca, { caName: NAME, csr: readFileSync(csr) });
    const leaf = writePem(dir, 'cached.pem', pemBlocks(issued.chainPem)[0]!);
    const request = join(dir, 'cached.req');
    await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leaf, '-no_nonce', '-reqout', request]);
    const get = async () => Buffer.from(await (await fetch(`${server.endpoint}/ca/${NAME}/ocsp/${encodeURIComponent(readFileSync(request).toString('base64'))}`)).arrayBuffer());
    const first = await get();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await get()).equals(first)).toBe(true);
    await revokeCertificate(ca, { caName: NAME, serial: issued.record.serial, reason: 'cessationOfOperation' });
    const after = await get();
    expect(after.equals(first)).toBe(false);
    const file = join(dir, 'cached.resp');
    writeFileSync(file, after);
    const { stdout } = await run('openssl', ['ocsp', '-respin', file, '-issuer', intermediateFile, '-cert', leaf, '-CAfile', rootFile, '-no_nonce']);
    expect(stdout).toMatch(/: revoked/);
    expect(stdout).toMatch(/Reason: cessationOfOperation/);
  });

  it('signs at most a fixed number of responses at once, and says tryLater beyond', async () => {
    const request = join(dir, 'busy.req');
    await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leafFile, '-reqout', request]);
    const busy: CaDeps = { ...ca, ocsp: { responses: new Map(), signing: MAX_OCSP_SIGNING } };
    const error = await refusal(answerOcsp(busy, NAME, readFileSync(request)));
    expect(error.type).toBe('ThrottlingException');
    // The budget is given back after each signature.
    await answerOcsp(ca, NAME, readFileSync(request));
    expect(ca.ocsp!.signing).toBe(0);
  });
});

describe('freshness', () => {
  const days = (n: number): CaDeps => ({ ...ca, now: () => new Date(Date.now() + n * 86_400_000) });
  const crlNumber = (der: Uint8Array) => {
    const extension = new x509.X509Crl(der).extensions.find((e) => e.type === '2.5.29.20')!;
    return Buffer.from(extension.value).toString('hex');
  };

  it('serves the stored CRL while fresh and signs a new one once half its validity has passed', async () => {
    const first = await currentCrl(ca, NAME, 'intermediate');
    expect(crlNumber(await currentCrl(ca, NAME, 'intermediate'))).toBe(crlNumber(first));
    const later = await currentCrl(days(4), NAME, 'intermediate');
    expect(crlNumber(later)).not.toBe(crlNumber(first));
    expect(new x509.X509Crl(later).nextUpdate!.getTime()).toBeGreaterThan(Date.now() + 10 * 86_400_000);
  });

  it('renews the OCSP responder certificate when a third of its life is left', async () => {
    const before = await ca.store.currentResponder(NAME, 'intermediate');
    await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leafFile, '-reqout', join(dir, 'renew.req'), '-no_nonce']);
    await answerOcsp(days(25), NAME, readFileSync(join(dir, 'renew.req')));
    const after = await ca.store.currentResponder(NAME, 'intermediate');
    expect(after!.serial).not.toBe(before!.serial);
    expect(after!.notAfter.getTime()).toBeGreaterThan(before!.notAfter.getTime());
  });
});
