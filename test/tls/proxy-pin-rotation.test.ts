/**
 * `hsmkms tls proxy --pin-file FILE` (a regular file) holds its PIN as `serve` does
 * (src/cli/serve-pins.ts) and hands the addon the PIN in the file when it changes: a CloudHSM
 * Crypto User's password rotated in the file is used at the addon's next login, without a
 * restart. Before, the proxy kept the PIN read at start: after the HSM lost the login, the old
 * password was refused, never sent again, and no handshake signed until a restart.
 *
 * The password "changes" under the proxy: the PKCS#11 interposer imitates CloudHSM (cloudhsm=1),
 * which refuses a PIN that is not `user:password`, and removes the token and brings it back with
 * every session closed, the login with them. The built binary runs as a user would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HSMKMS_BIN, until } from '../support/cli.js';
import { INTERPOSED_ENV, interposedTokenArgs } from '../support/interposer.js';
import { interposedTlsFixture, listen, run } from './support.js';

const fixture = interposedTlsFixture('proxy-pin');
const { control, caFile, log } = fixture;
let dir: string;
let upstream: Server;
let upstreamPort: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hsmkms-proxy-pin-'));
  upstream = createServer((_req, res) => res.end('upstream ok'));
  upstreamPort = await listen(upstream as unknown as Parameters<typeof listen>[0]);
});
afterAll(async () => {
  await new Promise((r) => upstream.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `hsmkms tls proxy` and waits for its "listening on" line; returns the process and port. */
async function startProxy(pinFile: string): Promise<{ child: ChildProcess; port: string; stderr: () => string }> {
  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, fixture.ec.cert);
  const args = ['tls', 'proxy', ...interposedTokenArgs(pinFile), '--key-uri', fixture.ec.keyUri, '--cert', certFile, '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${upstreamPort}`];
  const child = spawn(process.execPath, [HSMKMS_BIN, ...args], { env: { ...process.env, ...INTERPOSED_ENV }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start:\n${err}`)), 60_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const m = /TLS proxy listening on [^\s]+:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the proxy exited (${code}):\n${err}`)));
  });
  return { child, port, stderr: () => err };
}

it('a login after the HSM lost it uses the PIN now in the file (rotated password), without a restart', async () => {
  const pinFile = join(dir, 'user.pin');
  copyFileSync(process.env.HSMKMS_TEST_PIN_FILE!, pinFile);
  chmodSync(pinFile, 0o600);
  const plain = readFileSync(pinFile, 'utf8').trim();
  const proxy = await startProxy(pinFile);
  const curl = () =>
    run('curl', ['-sS', '--max-time', '20', '--cacert', caFile, `https://localhost:${proxy.port}/`]).then(
      (r) => r.stdout,
      () => 'handshake failed',
    );
  const logins = () => fixture.logLines().filter((l) => l.startsWith('C_Login ')).length;
  try {
    expect(await curl()).toBe('upstream ok');
    // The Crypto User's password changes (CloudHSM's form, `user:password`, is now the only one
    // the token accepts), the operator writes it to the file, and later the HSM loses the login.
    control.set([`object_log=${log}`, 'cloudhsm=1']);
    writeFileSync(`${pinFile}.new`, `user:${plain}`, { mode: 0o600 });
    renameSync(`${pinFile}.new`, pinFile);
    control.set([`object_log=${log}`, 'cloudhsm=1', 'token_removed=1']);
    expect(await curl()).toBe('handshake failed');
    const before = logins();
    control.set([`object_log=${log}`, 'cloudhsm=1']);
    await until(async () => (await curl()) === 'upstream ok', 30_000, `handshakes to sign again with the rotated PIN:\n${proxy.stderr()}`);
    // At most one login with the old password was refused on the way (a handshake that found
    // the login lost before the proxy read the file again), and the new one then held.
    expect(logins() - before).toBeLessThanOrEqual(2);
    for (let i = 0; i < 3; i++) expect(await curl()).toBe('upstream ok');
    expect(proxy.stderr()).not.toContain(plain);
  } finally {
    control.set([`object_log=${log}`]);
    proxy.child.kill('SIGTERM');
    await new Promise((r) => proxy.child.once('exit', r));
  }
}, 120_000);
