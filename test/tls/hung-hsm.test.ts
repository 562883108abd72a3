/**
 * A hung HSM must not freeze a process that terminates TLS with it. The handshake's signature
 * runs in OpenSSL's callback on Node's main thread, and PKCS#11 cannot cancel a call: before, one
 * C_Sign that never returned held that thread — every request of the process, on connections
 * open already too — for ever. Now the addon signs on a thread of its own and waits at most the
 * HSM call timeout (`--hsm-call-timeout`): the handshake fails, the process goes on, new
 * handshakes fail at once while that call is outstanding, and once the HSM answers it its
 * session is closed (never used again) and handshakes sign again on a new one, with no restart.
 *
 * The real `hsmkms serve --tls-key-uri` and `hsmkms tls proxy`, on the test token through the
 * PKCS#11 interposer, whose `hang=C_Sign` blocks the next C_Sign until the control file changes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, describe, expect, it } from 'vitest';
import { HSMKMS_BIN, freePort, serve, until } from '../support/cli.js';
import { INTERPOSED_ENV, interposedTokenArgs } from '../support/interposer.js';
import { interposedTlsFixture, listen, run } from './support.js';

const fixture = interposedTlsFixture('hung-hsm');
const { control, caFile, log } = fixture;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-hung-hsm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The HSM call timeout given to the processes under test. */
const CALL_TIMEOUT_MS = 3_000;
/** What "about the deadline" allows on a shared, busy machine. */
const WITHIN_MS = CALL_TIMEOUT_MS + 4_000;

const certFile = () => {
  const file = join(dir, 'cert.pem');
  writeFileSync(file, fixture.ec.cert);
  return file;
};

/** A new connection's handshake with curl: how it ended and how long it took (curl gives up after 20 s). */
async function handshake(port: number, path = '/'): Promise<{ ok: boolean; ms: number }> {
  const start = Date.now();
  const ok = await run('curl', ['-sS', '-o', '/dev/null', '--max-time', '20', '--cacert', caFile, `https://localhost:${port}${path}`]).then(
    () => true,
    () => false,
  );
  return { ok, ms: Date.now() - start };
}

/** An agent with one kept-alive connection, counting the connections it opens. */
function oneConnection(): { agent: https.Agent; opened: () => number } {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(caFile) });
  let opened = 0;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof create>) => {
    opened++;
    return create(...args) as Socket;
  }) as typeof agent.createConnection;
  return { agent, opened: () => opened };
}

/** `work`, or a failure naming `what` after `ms`: on the old code the process never answers. */
function answeredWithin<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** The C_SignInit and C_CloseSession lines of the interposer's object log: `[fn, session]`. */
const sessionEvents = () => fixture.logLines().map((l) => l.split(' ')).filter(([fn]) => fn === 'C_SignInit' || fn === 'C_CloseSession');

/**
 * The scenario both commands go through: `request` on the kept-alive connection works; with the
 * HSM hung a new handshake fails within about the deadline and `request` on that connection is
 * answered meanwhile; a second handshake fails at once; after the HSM answers, handshakes work.
 */
async function hangAndRecover(port: number, request: () => Promise<void>, opened: () => number): Promise<void> {
  await request();
  expect(opened()).toBe(1);
  // The log is shared by every process on the module and by earlier tests: only what follows counts.
  const from = sessionEvents().length;
  const since = () => sessionEvents().slice(from);
  control.set([`object_log=${log}`, 'hang=C_Sign ms=0 count=1']);
  const first = handshake(port);
  // Let the handshake reach the HSM, then ask on the open connection: the main thread is waiting
  // for the signature (at most the deadline) and must come back to answer.
  await until(() => since().some(([fn]) => fn === 'C_SignInit'), 5_000, 'the handshake reached C_SignInit');
  const asked = Date.now();
  await answeredWithin(request(), 15_000, 'a request on the connection open before the hang');
  expect(Date.now() - asked).toBeLessThan(WITHIN_MS);
  expect(opened()).toBe(1); // on the connection open before the hang

  const failed = await first;
  expect(failed.ok).toBe(false);
  expect(failed.ms).toBeLessThan(WITHIN_MS);

  // While the abandoned call is outstanding: no new call into the HSM (nor a thread for one), each
  // handshake fails at once.
  for (let i = 0; i < 3; i++) {
    const again = await handshake(port);
    expect(again.ok).toBe(false);
    expect(again.ms).toBeLessThan(CALL_TIMEOUT_MS); // not another wait for the HSM
  }
  const signInits = since().filter(([fn]) => fn === 'C_SignInit');
  expect(signInits).toHaveLength(1); // the refused handshakes made no call
  const hungSession = signInits[0]![1]!;

  control.set([`object_log=${log}`]); // the HSM answers at last
  await until(async () => (await handshake(port)).ok, 10_000, 'a handshake signed again after the HSM answered');
  await request();
  // The abandoned call's session was closed, used by nobody in between, and signatures since
  // were made on a session opened after that (the number may come back: handles are reused).
  const events = since();
  const closed = events.findIndex(([fn, session]) => fn === 'C_CloseSession' && session === hungSession);
  expect(closed).toBeGreaterThan(0);
  expect(events.slice(1, closed).filter(([fn]) => fn === 'C_SignInit')).toEqual([]);
  expect(events.slice(closed).some(([fn]) => fn === 'C_SignInit')).toBe(true);
}

function stopped(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('a hung HSM under TLS', () => {
  it('`hsmkms serve --tls-key-uri`: a handshake fails after --hsm-call-timeout, KMS calls on open connections are answered, handshakes sign again once the HSM answers', async () => {
    const credentials = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
    const served = await serve(
      [
        ...['--data-dir', join(dir, 'serve'), '--port', '0', '--workers', '1', '--log-level', 'warn', '--audit-digest-seconds', '3600'],
        ...interposedTokenArgs(),
        ...['--hsm-call-timeout', String(CALL_TIMEOUT_MS), '--tls-key-uri', fixture.ec.keyUri, '--tls-cert', certFile()],
      ],
      { ...INTERPOSED_ENV, HSMKMS_ROOT_ACCESS_KEY_ID: credentials.accessKeyId, HSMKMS_ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    );
    const { agent, opened } = oneConnection();
    const endpoint = served.endpoint.replace('127.0.0.1', 'localhost');
    const kms = new KMSClient({
      endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpsAgent: agent, requestTimeout: 15_000 }),
    });
    try {
      await hangAndRecover(Number(new URL(endpoint).port), async () => void (await kms.send(new ListKeysCommand({}))), opened);
      const lines = served.stdout().split('\n').filter((l) => l.includes('TLS handshake failed'));
      // The handshake given up at the deadline; those refused at once after it are
      // held back (counted as `suppressed` in a later line of the same message): the first and the
      // "not yet answered" line at most (4 failures in ~1–3 s here).
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(3);
      for (const line of lines) expect(line).toContain('the HSM did not answer in time');
      expect(lines[0]).toContain(`within ${CALL_TIMEOUT_MS} ms`);
    } finally {
      control.set([`object_log=${log}`]);
      kms.destroy();
      agent.destroy();
      await served.stop();
    }
  }, 60_000);

  it('`hsmkms tls proxy`: the same, for requests forwarded on an open connection', async () => {
    const upstream = http.createServer((_req, res) => res.end('upstream'));
    const upstreamPort = await listen(upstream);
    const port = await freePort();
    const proxy = spawn(
      process.execPath,
      [
        HSMKMS_BIN,
        'tls',
        'proxy',
        ...interposedTokenArgs(),
        ...['--hsm-call-timeout', String(CALL_TIMEOUT_MS), '--key-uri', fixture.ec.keyUri, '--cert', certFile()],
        ...['--listen', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${upstreamPort}`],
      ],
      { env: { ...process.env, ...INTERPOSED_ENV }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proxy.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const { agent, opened } = oneConnection();
    const get = () =>
      new Promise<void>((resolve, reject) => {
        const request = https.get({ host: 'localhost', port, path: '/', agent, timeout: 15_000 }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        });
        request.on('timeout', () => request.destroy(new Error('no answer within 15 s')));
        request.on('error', reject);
      });
    try {
      await until(() => stderr.includes('TLS proxy listening on'), 30_000, `the proxy started:\n${stderr}`);
      await hangAndRecover(port, get, opened);
    } finally {
      control.set([`object_log=${log}`]);
      agent.destroy();
      await stopped(proxy);
      upstream.close();
    }
  }, 60_000);
});
