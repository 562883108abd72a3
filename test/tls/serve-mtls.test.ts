/**
 * `hsmkms serve` over HTTPS with its key in the HSM and client certificates for the XKS paths:
 * AWS KMS's certificate (CN cks.kms.<region>.amazonaws.com, from the client CA) gets through;
 * a self-signed, expired or wrongly named certificate ends the handshake with a
 * handshake_failure alert and no HTTP response (what AWS's XKS test client checks); no
 * certificate at all is fine for the KMS API, not for the XKS API.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { generateTlsKey } from '../../src/tls/index.js';
import { createXksCredential, type NewXksCredential } from '../../src/xks/credentials.js';
import { startServer, type RunningServer } from '../support/server.js';
import { createTestCa, testHsm, uniqueLabel } from './support.js';

const SUBJECT = 'cks.kms.us-east-1.amazonaws.com';
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-mtls-'));
let server: RunningServer;
let endpoint: string;
let credential: NewXksCredential;

/** A client key pair (PEM files) and, from `issue`, its certificate. */
async function clientCertificate(name: string, issue: (spki: Buffer) => Promise<string>): Promise<{ key: string; cert: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(cert, await issue(publicKey.export({ type: 'spki', format: 'der' })));
  return { key, cert };
}

let good: { key: string; cert: string };
const bad: Record<string, { key: string; cert: string }> = {};

beforeAll(async () => {
  const hsm = testHsm();
  const serverCa = await createTestCa();
  const clientCa = await createTestCa();
  const strangerCa = await createTestCa();
  writeFileSync(join(dir, 'server-ca.pem'), serverCa.pem);
  const tlsKey = generateTlsKey(hsm, uniqueLabel('kms-tls'), 'ECC_NIST_P256');
  const serverCert = await serverCa.issue(tlsKey.spki, ['localhost', '127.0.0.1']);
  good = await clientCertificate('good', (spki) => clientCa.issue(spki, [SUBJECT]));
  bad.selfsigned = await clientCertificate('selfsigned', (spki) => strangerCa.issue(spki, [SUBJECT]));
  bad.expired = await clientCertificate('expired', (spki) =>
    clientCa.issue(spki, [SUBJECT], { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }),
  );
  bad.wrongsubject = await clientCertificate('wrongsubject', (spki) => clientCa.issue(spki, ['someone.else.example']));

  server = await startServer({ tls: { keyUri: tlsKey.keyUri, cert: serverCert, clientCa: clientCa.pem, clientSubject: SUBJECT } });
  endpoint = server.endpoint.replace(/^http:/, 'https:');
  credential = await createXksCredential(server.app.store, server.app.backend, `mtls-${randomBytes(3).toString('hex')}`, new Date());
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** curl -v to the XKS health path, as AWS's test client does; returns the combined output. */
function healthCheck(client?: { key: string; cert: string }): Promise<string> {
  const body = JSON.stringify({ requestMetadata: { kmsOperation: 'KmsHealthCheck', kmsRequestId: 'mtls-test' } });
  const args = ['-v', '--silent', '--cacert', join(dir, 'server-ca.pem'), '-H', 'Content-Type:application/json', '--aws-sigv4', 'aws:amz:us-east-1:kms-xks-proxy'];
  args.push('--user', `${credential.accessKeyId}:${credential.secretAccessKey}`, '--data-binary', body);
  if (client) args.push('--key', client.key, '--cert', client.cert);
  args.push(`${endpoint}/${credential.uriPrefix}/kms/xks/v1/health`);
  return new Promise((resolve) => execFile('curl', args, { timeout: 30_000 }, (_error, stdout, stderr) => resolve(`${stderr}\n${stdout}`)));
}

describe('mutual TLS for the XKS API, the key in the HSM', () => {
  it('lets AWS KMS in with its certificate from the client CA', async () => {
    const out = await healthCheck(good);
    expect(out).toContain('< HTTP/1.1 200');
    expect(out).toContain('"healthStatus":"ACTIVE"');
  });

  it.each(['selfsigned', 'expired', 'wrongsubject'])('ends the handshake for a %s client certificate with a handshake_failure alert and no HTTP response', async (name) => {
    const out = await healthCheck(bad[name]);
    expect(out).toContain('TLS alert, handshake failure');
    expect(out).not.toMatch(/< HTTP\/1\.1 \d{3}/);
  });

  it('refuses the XKS API to a client without a certificate, and serves it the KMS API', async () => {
    const out = await healthCheck();
    expect(out).toContain('< HTTP/1.1 401');
    expect(out).toContain('AuthenticationFailedException');
    // A KMS ListKeys call over the same port, signed by the AWS SDK's signer, without a client certificate.
    const url = new URL(endpoint);
    const signer = new SignatureV4({ credentials: server.credentials, region: server.region, service: 'kms', sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'https:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' },
      body: '{}',
    });
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https.request(endpoint, { method: 'POST', headers: signed.headers, ca: readFileSync(join(dir, 'server-ca.pem')) }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      request.end('{}');
    });
    expect(reply.status, reply.body).toBe(200);
    expect(JSON.parse(reply.body).Keys).toBeDefined();
  });
});
