/** The `hsmkms` commands other than serve: help, principals, tokens, and their errors. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HSMKMS_BIN, hsmkms, testTokenArgs } from '../support/cli.js';
import { VERSION } from '../../src/version.js';

const run = promisify(execFile);
let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function failure(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  return hsmkms(args, env).then(
    (r) => {
      throw new Error(`expected failure, got: ${r.stdout}`);
    },
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
}

describe('hsmkms CLI', () => {
  it('has --help on every command', async () => {
    for (const args of [[], ['serve'], ['principal'], ['principal', 'create'], ['principal', 'list'], ['principal', 'put-policy'], ['key', 'remove-creating-replica'], ['policy', 'explain'], ['token', 'init'], ['tls']]) {
      const { stdout } = await hsmkms([...args, '--help']);
      expect(stdout, args.join(' ')).toMatch(/^Usage: hsmkms/);
    }
  });

  it('creates and lists principals in the embedded data directory, printing one JSON object', async () => {
    const { stdout, stderr } = await hsmkms(['principal', 'create', 'bob', '--role', 'CryptoOfficer', '--data-dir', dataDir]);
    const created = JSON.parse(stdout);
    expect(Object.keys(created).sort()).toEqual(['accessKeyId', 'arn', 'secretAccessKey']);
    expect(created.arn).toBe('arn:aws:iam::111122223333:user/bob');
    expect(stderr).not.toContain(created.secretAccessKey);
    const listed = (await hsmkms(['principal', 'list', '--data-dir', dataDir])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const bob = listed.find((p: { name: string }) => p.name === 'bob');
    expect(bob).toMatchObject({ arn: created.arn, roles: ['CryptoOfficer'] });
    expect(JSON.stringify(listed)).not.toContain(created.secretAccessKey);
  });

  it('refuses a duplicate or invalid principal name with a message and exit code 1', async () => {
    const dup = await failure(['principal', 'create', 'bob', '--data-dir', dataDir]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/bob/);
    expect(dup.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user error
    const bad = await failure(['principal', 'create', 'no spaces allowed', '--data-dir', dataDir]);
    expect(bad.code).toBe(1);
  });

  it('attaches, shows, explains and removes identity policies offline on the data directory', async () => {
    await hsmkms(['principal', 'create', 'carol', '--tag', 'team=blue', '--data-dir', dataDir]);
    const file = join(dataDir, 'no-keys.json');
    writeFileSync(file, JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'NoNewKeys', Effect: 'Deny', Action: 'kms:CreateKey', Resource: '*' }] }));
    await hsmkms(['principal', 'put-policy', 'carol', '--policy-name', 'no-keys', '--policy-file', file, '--data-dir', dataDir]);
    const shown = JSON.parse((await hsmkms(['principal', 'get', 'carol', '--data-dir', dataDir])).stdout);
    expect(shown).toMatchObject({ arn: 'arn:aws:iam::111122223333:user/carol', roles: ['CryptoUser'], tags: { team: 'blue' }, ownedKeys: 0 });
    // Tags added or replaced later (a RegionPeer is bound to its region so).
    await hsmkms(['principal', 'tag', 'carol', '--tag', 'team=green', '--tag', 'hsmkms:PeerRegion=us-east-1', '--data-dir', dataDir]);
    expect(JSON.parse((await hsmkms(['principal', 'get', 'carol', '--data-dir', dataDir])).stdout).tags).toStrictEqual({ team: 'green', 'hsmkms:PeerRegion': 'us-east-1' });
    expect(shown.policies).toEqual([{ name: 'no-keys', document: JSON.parse(readFileSync(file, 'utf8')) }]);
    expect(shown.accessKeys).toHaveLength(1);
    expect(JSON.stringify(shown)).not.toMatch(/secret/i);

    const explained = (await hsmkms(['policy', 'explain', '--principal', 'carol', '--action', 'kms:CreateKey', '--data-dir', dataDir])).stdout;
    expect(explained).toMatch(/^Decision: ExplicitDeny \(decided by identity-policy\)/);
    expect(explained).toContain('✔ Deny no-keys "NoNewKeys" #0: applies');
    expect(explained).toContain('with an explicit deny in an identity-based policy');

    await hsmkms(['principal', 'delete-policy', 'carol', '--policy-name', 'no-keys', '--data-dir', dataDir]);
    const bad = await failure(['principal', 'put-policy', 'carol', '--policy-name', 'p', '--policy-file', join(dataDir, 'no-such-file'), '--data-dir', dataDir]);
    expect(bad.stderr).toContain('no-such-file');
    const mixed = await failure(['principal', 'set-roles', 'carol', '--role', 'CryptoOfficer', 'CryptoUser', '--data-dir', dataDir]);
    expect(mixed.stderr).toMatch(/cannot be both CryptoOfficer and CryptoUser/);
    expect(mixed.stderr).not.toMatch(/\n\s+at /);
  });

  it('key remove-creating-replica answers as the operation does, offline on the data directory', async () => {
    const missing = await failure(['key', 'remove-creating-replica', `mrk-${'a'.repeat(32)}`, '--data-dir', dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const bad = await failure(['key', 'remove-creating-replica', 'not-a-multi-region-key', '--data-dir', dataDir]);
    expect(bad.stderr).toMatch(/'not-a-multi-region-key' at 'keyId' failed to satisfy constraint/);
  });

  it('prints an error message that echoes the caller\'s input with control and bidirectional characters escaped', async () => {
    // An id or a value echoed raw would drive the reader's terminal (ESC) or reorder the line (U+202E).
    const bad = await failure(['key', 'remove-creating-replica', 'mrk-\u202eevil\u001b[2J\u009b31m', '--data-dir', dataDir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("'mrk-\\u202eevil\\u001b[2J\\u009b31m' at 'keyId' failed to satisfy constraint");
    const port = await failure(['serve', '--port', '1\n2\u2066', '--data-dir', join(dataDir, 'unused')]);
    expect(port).toMatchObject({ code: 1, stderr: "hsmkms: --port must be 0–65535, got '1\\u000a2\\u2066'.\n" });
  });

  it('initialises a named token in the embedded SoftHSM2 with generated PINs kept private', async () => {
    const { stdout } = await hsmkms(['token', 'init', '--label', 'tls-keys', '--data-dir', dataDir]);
    expect(JSON.parse(stdout)).toMatchObject({ label: 'tls-keys' });
    for (const file of ['tls-keys.pin', 'tls-keys.so.pin']) expect(statSync(join(dataDir, file)).mode & 0o077).toBe(0);
    const pin = readFileSync(join(dataDir, 'tls-keys.pin'), 'utf8');
    expect(stdout).not.toContain(pin);
    // The token is there and the generated user PIN opens it.
    const { stdout: slots } = await run('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--list-token-slots'], {
      env: { ...process.env, SOFTHSM2_CONF: join(dataDir, 'softhsm2.conf') },
    });
    expect(slots).toContain('tls-keys');
    const again = await failure(['token', 'init', '--label', 'tls-keys', '--data-dir', dataDir]);
    expect(again.stderr).toMatch(/exists already/);
  });

  it('fails to start with a message a person can act on for a wrong PIN or a missing token', async () => {
    const env = { SOFTHSM2_CONF: process.env.SOFTHSM2_CONF };
    const wrong = join(dataDir, 'wrong.pin');
    writeFileSync(wrong, 'not-the-pin', { mode: 0o600 });
    const base = ['serve', '--module', '/usr/lib/softhsm/libsofthsm2.so', '--pin-file', wrong, '--port', '0', '--data-dir', join(dataDir, 'real')];
    const badPin = await failure([...base, '--token-label', process.env.HSMKMS_TEST_TOKEN!], env);
    expect(badPin.stderr).toMatch(/rejected the PIN/);
    expect(badPin.stderr).not.toContain('not-the-pin');
    expect(badPin.stderr).not.toMatch(/\n\s+at /);
    const noToken = await failure([...base, '--token-label', 'no-such-token'], env);
    expect(noToken.stderr).toMatch(/No token with label "no-such-token"/);
  });

  it('stops with the message alone when the root credentials file is malformed, after the token and store opened', async () => {
    const dir = join(dataDir, 'bad-root');
    mkdirSync(dir);
    writeFileSync(join(dir, 'root-credentials.json'), '{"accessKeyId":"AKIAONLYHALF"}', { mode: 0o600 });
    const bad = await failure(['serve', '--data-dir', dir, '--port', '0', ...testTokenArgs()]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/root-credentials\.json must hold \{"accessKeyId","secretAccessKey"\}/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('needs a PIN source for a real module and never takes the PIN itself as an argument', async () => {
    const noPin = await failure(['token', 'init', '--label', 'x', '--module', '/usr/lib/softhsm/libsofthsm2.so']);
    expect(noPin.stderr).toMatch(/--pin-file or --pin-env/);
    const pinArg = await failure(['serve', '--pin', '1234']);
    expect(pinArg.stderr).toMatch(/unknown option '--pin'/);
    const loose = join(dataDir, 'loose.pin');
    writeFileSync(loose, '1234', { mode: 0o644 });
    const world = await failure(['serve', '--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', 'x', '--pin-file', loose, '--port', '0']);
    expect(world.stderr).toMatch(/chmod 600/);
  });
});

/** Runs `hsmkms <args>` with its stdout a pipe whose reader has gone before anything is written. */
function withClosedStdout(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [HSMKMS_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.destroy();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

describe('hsmkms as a Unix citizen', () => {
  it('exits quietly with status 0 when its output pipe closes (principal list | head)', async () => {
    for (const args of [['principal', 'list', '--data-dir', dataDir], ['serve', '--help']]) {
      const result = await withClosedStdout(args);
      expect(result, args.join(' ')).toEqual({ code: 0, stderr: '' });
    }
  });

  it('stops the server gracefully, status 0, when the pipe its logs go to closes', async () => {
    const serveDir = join(dataDir, 'serve-pipe');
    const child = spawn(process.execPath, [HSMKMS_BIN, 'serve', '--data-dir', serveDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await vi.waitFor(() => expect(stderr).toMatch(/listening on (http:\/\/\S+)/), { timeout: 60_000, interval: 100 });
    child.stdout!.destroy();
    // Every request is logged, so the next one finds the pipe closed.
    const endpoint = /listening on (http:\/\/\S+)/.exec(stderr)![1]!;
    await fetch(`${endpoint}/health`).catch(() => undefined);
    await fetch(`${endpoint}/`, { method: 'POST' }).catch(() => undefined);
    expect(await exited).toBe(0);
    expect(stderr).toContain('log output closed: shutting down');
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /);
  });

  it('uses one set of exit statuses: 2 for usage errors, 1 for failures, 0 for help and version; messages on stderr only', async () => {
    // Each spawn costs a Node start-up; a few cases cover commander's kinds of usage error.
    for (const args of [['--bogus'], [], ['principal', 'create'], ['serve', '--log-level', 'loud']]) {
      const usage = await failure(args);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr, args.join(' ')).toMatch(/error: |Usage: /);
    }
    const config = await failure(['serve', '--port', 'abc', '--data-dir', join(dataDir, 'unused')]);
    expect(config).toMatchObject({ code: 1, stderr: "hsmkms: --port must be 0–65535, got 'abc'.\n" });
    const timeouts = await failure(['serve', '--request-timeout', '5', '--headers-timeout', '6', '--data-dir', join(dataDir, 'unused')]);
    expect(timeouts.code).toBe(1);
    expect(timeouts.stderr).toMatch(/headers timeout \(6000 ms\) must not exceed the request timeout \(5000 ms\)/);
    expect(await hsmkms(['--version'])).toEqual({ stdout: `${VERSION}\n`, stderr: '' });
    expect(VERSION).toBe((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
  });
});
