/**
 * `hsmkms xks …` as a user runs it on embedded defaults: credentials per URI prefix (two at a
 * time), AES keys in the token, and `serve --xks-cluster` taking its keys from a token made by
 * `hsmkms token init`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hsmkms, serve, type Served } from '../support/cli.js';

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-xks-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A refused command: status 1 when the command failed, 2 for a command line commander rejects itself (see README, exit statuses). */
async function failure(args: string[], status: 1 | 2 = 1): Promise<string> {
  return hsmkms(args).then(
    (r) => {
      throw new Error(`expected failure, got: ${r.stdout}`);
    },
    (error: { code: number; stderr: string }) => {
      expect(error.code).toBe(status);
      expect(error.stderr).not.toMatch(/\n\s+at /);
      return error.stderr;
    },
  );
}

/** Waits (up to 20 s) until the server has written `pattern` to standard error. */
async function saidOnStderr(server: Served, pattern: RegExp): Promise<void> {
  for (let waited = 0; !pattern.test(server.stderr()); waited += 50) {
    if (waited > 20_000) throw new Error(`not said: ${pattern}\n${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('hsmkms xks', () => {
  it('has --help on every command', async () => {
    for (const args of [['xks', 'credential', 'create'], ['xks', 'key', 'create']]) {
      const { stdout } = await hsmkms([...args, '--help']);
      expect(stdout, args.join(' ')).toMatch(/^Usage: hsmkms/);
    }
  });

  it('creates credentials for a prefix (two at most), lists them without secrets, and deletes them', async () => {
    const first = JSON.parse((await hsmkms(['xks', 'credential', 'create', '--uri-prefix', '/tenant/a/', '--data-dir', dataDir])).stdout);
    expect(Object.keys(first).sort()).toEqual(['accessKeyId', 'secretAccessKey', 'uriPrefix']);
    expect(first.uriPrefix).toBe('tenant/a');
    expect(first.accessKeyId).toMatch(/^[A-Z2-7]{26}$/);
    const second = JSON.parse((await hsmkms(['xks', 'credential', 'create', '--uri-prefix', 'tenant/a', '--data-dir', dataDir])).stdout);
    expect(await failure(['xks', 'credential', 'create', '--uri-prefix', 'tenant/a', '--data-dir', dataDir])).toContain('already has 2 credentials');
    const fresh = JSON.parse((await hsmkms(['xks', 'credential', 'create', '--data-dir', dataDir])).stdout);
    expect(fresh.uriPrefix).toMatch(/^keystores\/[0-9a-f-]{36}$/);

    const listed = (await hsmkms(['xks', 'credential', 'list', '--data-dir', dataDir])).stdout;
    expect(listed).toContain('"xksProxyUriPath":"/tenant/a/kms/xks/v1"');
    for (const c of [first, second, fresh]) {
      expect(listed).toContain(c.accessKeyId);
      expect(listed).not.toContain(c.secretAccessKey);
    }
    await hsmkms(['xks', 'credential', 'delete', '--access-key-id', first.accessKeyId, '--data-dir', dataDir]);
    expect((await hsmkms(['xks', 'credential', 'list', '--data-dir', dataDir])).stdout).not.toContain(first.accessKeyId);
    expect(await failure(['xks', 'credential', 'delete', '--access-key-id', first.accessKeyId, '--data-dir', dataDir])).toContain('No XKS credential');
    expect(await failure(['xks', 'credential', 'create', '--uri-prefix', 'bad prefix!', '--data-dir', dataDir])).toContain('URI prefix');
  });

  it('creates AES-256 keys with the usage asked for, lists them, and refuses bad labels', async () => {
    await hsmkms(['xks', 'key', 'create', '--label', 'payments-1', '--data-dir', dataDir]);
    await hsmkms(['xks', 'key', 'create', '--label', 'enc-only', '--usage', 'ENCRYPT', '--data-dir', dataDir]);
    const keys = (await hsmkms(['xks', 'key', 'list', '--data-dir', dataDir])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(keys).toEqual(
      expect.arrayContaining([
        { keyId: 'payments-1', keySpec: 'AES_256', keyUsage: ['ENCRYPT', 'DECRYPT'] },
        { keyId: 'enc-only', keySpec: 'AES_256', keyUsage: ['ENCRYPT'] },
      ]),
    );
    expect(keys.map((k) => k.keyId)).not.toContain('hsmkms-seal-key');
    expect(await failure(['xks', 'key', 'create', '--label', 'payments-1', '--data-dir', dataDir])).toContain('already in the token');
    expect(await failure(['xks', 'key', 'create', '--label', 'hsmkms-seal-key', '--data-dir', dataDir])).toContain("hsmkms's own keys");
    expect(await failure(['xks', 'key', 'create', '--label', 'has space', '--data-dir', dataDir])).toContain('--label');
    expect(await failure(['xks', 'key', 'create', '--label', 'x', '--usage', 'SIGN', '--data-dir', dataDir], 2)).toContain('--usage');
  });

  it('keeps keys in another embedded token with --cluster', async () => {
    await hsmkms(['token', 'init', '--label', 'xks-partition', '--data-dir', dataDir]);
    await hsmkms(['xks', 'key', 'create', '--label', 'in-partition', '--cluster', 'xks-partition', '--data-dir', dataDir]);
    expect((await hsmkms(['xks', 'key', 'list', '--cluster', 'xks-partition', '--data-dir', dataDir])).stdout).toContain('"keyId":"in-partition"');
    expect((await hsmkms(['xks', 'key', 'list', '--data-dir', dataDir])).stdout).not.toContain('in-partition');
    expect(await failure(['xks', 'key', 'list', '--cluster', 'no-such-token', '--data-dir', dataDir])).toMatch(/no-such-token|No token/);
  });

  it('serve --xks-policy: a policy file that is missing or does not parse stops start-up, naming it', async () => {
    const missing = join(dataDir, 'missing-policy.json');
    expect(await failure(['serve', '--port', '0', '--data-dir', dataDir, '--xks-policy', `acme/payments=${missing}`])).toMatch(
      /--xks-policy acme\/payments=.*missing-policy\.json: the policy file cannot be read \(ENOENT\)/,
    );
    const bad = join(dataDir, 'bad-policy.json');
    writeFileSync(bad, '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt"}]}');
    expect(await failure(['serve', '--port', '0', '--data-dir', dataDir, '--xks-policy', `/acme/payments/=${bad}`])).toMatch(
      /The XKS policy of URI prefix 'acme\/payments' is not a policy document: .+/,
    );
  });

  it('serve --xks-policy: SIGHUP reads the files again, and a bad one leaves the policies in force and the server running', async () => {
    const file = join(dataDir, 'reloaded-policy.json');
    const policy = (action: string) =>
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: action, Resource: '*' }] });
    writeFileSync(file, policy('kms:Encrypt'));
    const server = await serve(['--port', '0', '--data-dir', dataDir, '--xks-policy', `acme/payments=${file}`]);
    const said = (pattern: RegExp) => saidOnStderr(server, pattern);
    try {
      writeFileSync(file, '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}');
      server.child.kill('SIGHUP');
      await said(/SIGHUP: nothing reloaded, the configuration in force stays: The XKS policy of URI prefix 'acme\/payments' is not a policy document/);
      writeFileSync(file, policy('kms:Decrypt'));
      server.child.kill('SIGHUP');
      await said(/SIGHUP: XKS policies reloaded \(1 URI prefixes\)/);
      expect(server.child.exitCode).toBeNull();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serve --workers 2: the primary passes SIGHUP on to every worker', async () => {
    const file = join(dataDir, 'workers-policy.json');
    writeFileSync(file, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:Encrypt', Resource: '*' }] }));
    const server = await serve(['--port', '0', '--workers', '2', '--data-dir', dataDir, '--xks-policy', `acme/payments=${file}`]);
    try {
      server.child.kill('SIGHUP');
      await saidOnStderr(server, /worker 0: SIGHUP: XKS policies reloaded/);
      await saidOnStderr(server, /worker 1: SIGHUP: XKS policies reloaded/);
      expect(server.stderr()).not.toMatch(/worker \d exited/);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
