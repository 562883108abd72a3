/**
 * `hsmkms ca …` as a user runs it, beside a running `hsmkms serve` on the same data directory:
 * init, issue, the served chain/OCSP/CRL, revoke, list, one-line refusals with a non-zero exit;
 * the same CA driven through `--kms-endpoint` (the SDK over HTTP, as against AWS KMS); and TLS
 * offload end to end — `tls keygen` → `ca issue` → `tls proxy` → curl trusting only the root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caCommand } from '../../src/cli/ca.js';
import { HSMKMS_BIN, hsmkms, serve, testTokenArgs, type Served } from '../support/cli.js';
import { opensslCsr, pemBlocks, run, writePem } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ca-cli-'));
const dataDir = join(dir, 'data');
const base = ['--data-dir', dataDir, ...testTokenArgs()];
let served: Served;
let rootFile: string;
let intermediateFile: string;

async function failure(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return hsmkms(args, env).then(
    (r) => {
      throw new Error(`expected a refusal, got: ${r.stdout}`);
    },
    (error: { code: number; stderr: string }) => {
      expect(error.code).not.toBe(0);
      return error.stderr;
    },
  );
}

/** A refusal a person can read: one line, our prefix, no stack trace. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^hsmkms: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

/** C0 (but the newline that ends each line), DEL, C1 and the bidirectional embedding, override and isolate controls. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

async function ocsp(leaf: string, name = 'cli'): Promise<string> {
  const { stdout, stderr } = await run('openssl', ['ocsp', '-issuer', intermediateFile, '-cert', leaf, '-url', `${served.endpoint}/ca/${name}/ocsp`, '-CAfile', rootFile]);
  return stdout + stderr;
}

beforeAll(async () => {
  served = await serve([...base, '--port', '0', '--log-level', 'warn']);
  const { stdout } = await hsmkms(['ca', 'init', ...base, '--name', 'cli', '--subject', 'CN=CLI Root CA,O=hsmkms tests,C=US', '--base-url', served.endpoint]);
  rootFile = writePem(dir, 'root.pem', stdout);
}, 300_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('hsmkms ca', () => {
  it('documents each subcommand and its options in --help', () => {
    const ca = caCommand();
    expect(ca.commands.map((c) => c.name())).toEqual(['init', 'issue', 'list', 'revoke', 'crl']);
    const help = Object.fromEntries(ca.commands.map((c) => [c.name(), c.helpInformation()]));
    for (const text of Object.values(help)) {
      expect(text).toMatch(/--name <name>/);
      expect(text).toMatch(/--kms-endpoint <url>/);
      expect(text).toMatch(/--hsm-profile <name>/);
    }
    expect(help.init).toMatch(/--key-spec <spec>/);
    for (const spec of ['ECC_NIST_P384', 'ECC_NIST_P256', 'RSA_3072', 'RSA_4096']) expect(help.init).toContain(`"${spec}"`);
    expect(help.init!.replace(/\s+/g, ' ')).toContain('default: "ECC_NIST_P384"');
    expect(help.init).toMatch(/--base-url <url>/);
    const flat = (text: string | undefined) => (text ?? '').replace(/\s+/g, ' ');
    expect(flat(help.issue)).toMatch(/--profile <profile>.*"tls-server", "tls-client", "code-signing"/);
    expect(flat(help.revoke)).toMatch(/--reason <reason>.*"keyCompromise"/);
  });

  it('init printed the root; serve publishes root and intermediate at /ca/NAME/ca.pem', async () => {
    const root = pemBlocks(readFileSync(rootFile, 'utf8'));
    expect(root).toHaveLength(1);
    const response = await fetch(`${served.endpoint}/ca/cli/ca.pem`);
    expect(response.status).toBe(200);
    const chain = pemBlocks(await response.text());
    expect(chain).toHaveLength(2);
    expect(chain[0]).toBe(root[0]);
    intermediateFile = writePem(dir, 'intermediate.pem', chain[1]!);
    expect((await run('openssl', ['verify', '-CAfile', rootFile, intermediateFile])).stdout).toMatch(/: OK/);
  });

  it('issues, serves OCSP good → revoked, signs a CRL with the reason, lists with status', async () => {
    const csr = await opensslCsr(dir, 'web', 'ec-p256', '/CN=web.example.com', ['DNS:web.example.com']);
    const issued = await hsmkms(['ca', 'issue', ...base, '--name', 'cli', '--csr', csr, '--profile', 'tls-server', '--days', '30']);
    expect(issued.stderr).toMatch(/issued tls-server certificate serial [0-9a-f]{32}/);
    const [leafPem, intermediatePem] = pemBlocks(issued.stdout);
    expect(intermediatePem).toBe(readFileSync(intermediateFile, 'utf8'));
    const leaf = writePem(dir, 'web.pem', leafPem!);
    expect((await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', intermediateFile, '-purpose', 'sslserver', leaf])).stdout).toMatch(/: OK/);
    const serial = (await run('openssl', ['x509', '-in', leaf, '-noout', '-serial'])).stdout.trim().slice('serial='.length);

    const before = await ocsp(leaf);
    expect(before).toMatch(/Response verify OK/);
    expect(before).toMatch(/: good/);

    // The serial as openssl prints it (upper case) is accepted.
    const revoked = await hsmkms(['ca', 'revoke', ...base, '--name', 'cli', serial, '--reason', 'superseded']);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ serial: serial.toLowerCase(), reason: 'superseded' });
    const after = await ocsp(leaf);
    expect(after).toMatch(/: revoked/);
    expect(after).toMatch(/Reason: superseded/);

    const crl = await hsmkms(['ca', 'crl', ...base, '--name', 'cli']);
    const crlFile = join(dir, 'cli.crl.pem');
    writeFileSync(crlFile, crl.stdout);
    const { stdout, stderr } = await run('openssl', ['crl', '-in', crlFile, '-CAfile', intermediateFile, '-noout', '-text', '-verify']);
    expect(stderr + stdout).toMatch(/verify OK/);
    expect(stdout).toContain(`Serial Number: ${serial}`);
    expect(stdout).toMatch(/CRL Reason Code:\s+Superseded/);

    const listed = (await hsmkms(['ca', 'list', ...base, '--name', 'cli'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(listed.find((c) => c.serial === serial.toLowerCase())).toMatchObject({ subject: 'CN=web.example.com', kind: 'tls-server', status: 'revoked', reason: 'superseded' });
    expect(listed.find((c) => c.kind === 'intermediate-ca')).toMatchObject({ status: 'good', issuer: 'root' });
    for (const entry of listed) expect(Object.keys(entry)).toEqual(expect.arrayContaining(['serial', 'subject', 'notAfter', 'status']));

  });

  it('prints a CSR subject\'s control characters escaped: issue, revoke and list', async () => {
    // Anyone who may have a certificate issued (HsmKms.IssueCertificate over the API) chooses its
    // subject; the operator who lists or revokes it reads it in a terminal.
    const subject = 'CN=evil\u001b]0;owned\u0007\u009b2J\u202egnp.exe';
    const keyFile = join(dir, 'evil.key');
    const csrFile = join(dir, 'evil.csr');
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-utf8', '-subj', `/${subject}`, '-out', csrFile]);
    const issued = await hsmkms(['ca', 'issue', ...base, '--name', 'cli', '--csr', csrFile, '--profile', 'code-signing']);
    expect(issued.stderr).toContain('for CN=evil\\u001b]0\\;owned\\u0007\\u009b2J\\u202egnp.exe,');
    expect(issued.stderr).not.toMatch(CONTROL);
    const leaf = writePem(dir, 'evil.pem', pemBlocks(issued.stdout)[0]!);
    const serial = (await run('openssl', ['x509', '-in', leaf, '-noout', '-serial'])).stdout.trim().slice('serial='.length).toLowerCase();

    const listed = await hsmkms(['ca', 'list', ...base, '--name', 'cli']);
    expect(listed.stdout).not.toMatch(CONTROL);
    const entry = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { serial: string; subject: string }).find((c) => c.serial === serial);
    // The same value for a program: only how the JSON writes it changed.
    expect(entry?.subject).toBe('CN=evil\u001b]0\\;owned\u0007\u009b2J\u202egnp.exe');

    const revoked = await hsmkms(['ca', 'revoke', ...base, '--name', 'cli', serial]);
    expect(revoked.stderr).toMatch(/^hsmkms: revoked [0-9a-f]+ \(CN=evil\\u001b/m);
    expect(revoked.stderr).not.toMatch(CONTROL);
  });

  it('refuses bad requests with one line and a non-zero exit', async () => {
    const good = await opensslCsr(dir, 'r1', 'ec-p256', '/CN=r1.example.com', ['DNS:r1.example.com']);
    // A CSR whose signature no longer matches: flip the last byte of its DER (inside the signature).
    const der = join(dir, 'r1.der');
    await run('openssl', ['req', '-in', good, '-outform', 'DER', '-out', der]);
    const tampered = readFileSync(der);
    tampered[tampered.length - 1]! ^= 0x01;
    const badSignature = join(dir, 'bad-signature.der');
    writeFileSync(badSignature, tampered);
    const noNames = await opensslCsr(dir, 'nonames', 'ec-p256', '/CN=nonames.example.com');
    const huge = join(dir, 'huge.csr');
    writeFileSync(huge, `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(40_000)}\n-----END CERTIFICATE REQUEST-----\n`);

    // (Unknown serials, malformed PEM/DER and the rest are covered in-process by endpoints.test.ts.)
    const [signature, names, unknownCa, oversize] = await Promise.all([
      failure(['ca', 'issue', ...base, '--name', 'cli', '--csr', badSignature]),
      failure(['ca', 'issue', ...base, '--name', 'cli', '--csr', noNames]),
      failure(['ca', 'revoke', ...base, '--name', 'nope', '4f00000000000000000000000000000a']),
      failure(['ca', 'issue', ...base, '--name', 'cli', '--csr', huge]),
    ]);
    expectOneLine(signature, /signature does not verify/);
    expectOneLine(names, /tls-server certificate needs at least one subjectAltName/);
    expectOneLine(unknownCa, /No CA named 'nope'/);
    expectOneLine(oversize, /The CSR is \d+ bytes or more; the limit is 32768/);
  });

  it('runs the same CA through --kms-endpoint: the AWS SDK over HTTP with credentials from the environment', async () => {
    const root = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
    const env = { AWS_ACCESS_KEY_ID: root.accessKeyId, AWS_SECRET_ACCESS_KEY: root.secretAccessKey, AWS_REGION: 'us-east-1' };
    const remote = ['--data-dir', dataDir, '--kms-endpoint', served.endpoint];
    const csr = await opensslCsr(dir, 'client', 'rsa-2048', '/CN=client.example.com', ['DNS:client.example.com']);
    const issued = await hsmkms(['ca', 'issue', ...remote, '--name', 'cli', '--csr', csr, '--profile', 'tls-client'], env);
    const leaf = writePem(dir, 'client.pem', pemBlocks(issued.stdout)[0]!);
    expect((await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', intermediateFile, '-purpose', 'sslclient', leaf])).stdout).toMatch(/: OK/);
    // Recorded in the same store: the served responder knows it.
    expect(await ocsp(leaf)).toMatch(/: good/);
    // Without credentials the SDK (not hsmkms) refuses: said in one line.
    const noCredentials = await failure(['ca', 'issue', ...remote, '--name', 'cli', '--csr', csr], {
      AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00',
      AWS_SECRET_ACCESS_KEY: 'x'.repeat(40),
      AWS_REGION: 'us-east-1',
    });
    expectOneLine(noCredentials, /KMS Sign failed: UnrecognizedClientException/);
  });
});

describe('TLS offload with a certificate from the CA', () => {
  let upstream: Server;
  let proxy: ChildProcess | undefined;
  beforeAll(async () => {
    upstream = createServer((_req, res) => res.end('hello from upstream'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    proxy?.kill('SIGTERM');
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('tls keygen → ca issue → tls proxy → curl --cacert root.pem (no -k)', async () => {
    const csr = join(dir, 'proxy.csr');
    const label = `ca-e2e-${process.pid}`;
    const keygen = await hsmkms(['tls', 'keygen', ...testTokenArgs(), '--label', label, '--spec', 'ECC_NIST_P256', '--subject', 'CN=localhost', '--san', 'DNS:localhost', '--csr', csr]);
    const keyUri = keygen.stdout.trim();
    const issued = await hsmkms(['ca', 'issue', ...base, '--name', 'cli', '--csr', csr]);
    const chain = writePem(dir, 'proxy-chain.pem', issued.stdout);

    const upstreamPort = (upstream.address() as AddressInfo).port;
    const child = spawn(process.execPath, [HSMKMS_BIN, 'tls', 'proxy', ...testTokenArgs(), '--key-uri', keyUri, '--cert', chain, '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstreamPort}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proxy = child;
    const port = await new Promise<number>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tls proxy did not start:\n${err}`)), 60_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        const m = /listening on [^\s]+:(\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`tls proxy exited ${code}:\n${err}`)));
    });
    const { stdout } = await run('curl', ['-sS', '--cacert', rootFile, `https://localhost:${port}/`]);
    expect(stdout).toBe('hello from upstream');
  });
});
