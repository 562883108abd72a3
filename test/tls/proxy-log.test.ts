/**
 * `hsmkms tls proxy` tells its operator what goes wrong, as JSON lines on stdout at
 * `--log-level`: that it listens, an upstream it cannot reach (each client then gets a 502),
 * and clients' failed handshakes (debug). A cause every client meets again is logged once, not
 * per request or connection: a flood of garbage handshakes or of requests to a dead upstream
 * yields one line each. No line carries the PIN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateTlsKey } from '../../src/tls/index.js';
import { HSMKMS_BIN, until } from '../support/cli.js';
import { createTestCa, listen, testHsm, uniqueLabel } from './support.js';

const hsm = testHsm();
const pinFile = (hsm.pin as { file: string }).file;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-proxy-log-'));
let child: ChildProcess;
let stdout = '';
let stderr = '';
let port = 0;
let ca: string;

/** The complete lines written so far (one may be half-read). */
const lines = (): Array<Record<string, unknown>> =>
  stdout
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const withMessage = (msg: string) => lines().filter((l) => l.msg === msg);

beforeAll(async () => {
  const testCa = await createTestCa();
  ca = testCa.pem;
  const key = generateTlsKey(hsm, uniqueLabel('tls-proxy-log'), 'ECC_NIST_P256');
  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, await testCa.issue(key.spki, ['localhost', '127.0.0.1']));
  // An upstream that is gone: its port was free a moment ago.
  const gone = http.createServer();
  const deadPort = await listen(gone);
  gone.close();
  const args = ['tls', 'proxy', '--module', hsm.modulePath, '--token-label', hsm.token.label!, '--pin-file', pinFile];
  args.push('--key-uri', key.keyUri, '--cert', certFile, '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${deadPort}`, '--log-level', 'debug');
  child = spawn(process.execPath, [HSMKMS_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until(() => /listening on 127\.0\.0\.1:(\d+)/.test(stderr) || child.exitCode !== null, 30_000, 'the proxy to listen');
  port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
  expect(port, stderr).toBeGreaterThan(0);
});

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function get(): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, path: '/', ca, servername: 'localhost', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
  });
}

/** A client that sends bytes that are no TLS record, and reads until the proxy closes. */
function garbageHandshake(): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', () => {});
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

it('logs that it listens, and an unreachable upstream once however many clients meet it', async () => {
  await until(() => withMessage('TLS proxy listening').length > 0, 10_000, 'the listening line');
  const listening = withMessage('TLS proxy listening');
  expect(listening).toHaveLength(1);
  expect(listening[0]).toMatchObject({ level: 30, component: 'tls-proxy', listen: `127.0.0.1:${port}` });

  for (let i = 0; i < 20; i++) expect(await get()).toBe(502);
  await until(() => withMessage('upstream could not be reached: answered 502').length > 0, 10_000, 'the upstream line');
  const unreachable = withMessage('upstream could not be reached: answered 502');
  expect(unreachable).toHaveLength(1);
  expect(unreachable[0]).toMatchObject({ level: 40, code: 'ECONNREFUSED', upstream: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
});

it('logs clients’ failed handshakes at debug level, once for a flood of them', async () => {
  for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 5 }, garbageHandshake));
  await until(() => withMessage('TLS handshake failed on the client side').length > 0, 10_000, 'the handshake line');
  const failed = withMessage('TLS handshake failed on the client side');
  expect(failed).toHaveLength(1);
  expect(failed[0]).toMatchObject({ level: 20, code: expect.stringMatching(/^ERR_SSL_/) });
  // The proxy still serves (the HSM signs): a well-formed client is answered.
  expect(await get()).toBe(502);
});

it('writes no PIN in any line', () => {
  const pin = readFileSync(pinFile, 'utf8').trim();
  expect(pin.length).toBeGreaterThan(3);
  expect(stdout + stderr).not.toContain(pin);
  expect(child.exitCode).toBeNull();
});
