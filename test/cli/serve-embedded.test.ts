/**
 * The quick start, as a user runs it: `hsmkms serve` on embedded defaults (its own SoftHSM2
 * token and SQLite store in the data directory), `hsmkms principal create`, and the AWS CLI v2
 * (Debian's /usr/bin/aws, unmodified) against it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hsmkms, serve, type Served } from '../support/cli.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';

let dataDir: string;
let served: Served;
let alice: { arn: string; accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-embedded-'));
  served = await serve(['--data-dir', dataDir, '--port', '0', '--metrics-listen', '127.0.0.1:0']);
  const { stdout } = await hsmkms(['principal', 'create', 'alice', '--data-dir', dataDir]);
  alice = JSON.parse(stdout);
}, 180_000);

afterAll(async () => {
  const code = await served?.stop();
  expect(code).toBe(0);
  rmSync(dataDir, { recursive: true, force: true });
});

async function aws(args: string[]): Promise<string> {
  const { stdout } = await run(AWS, ['--endpoint-url', served.endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: dataDir,
      AWS_ACCESS_KEY_ID: alice.accessKeyId,
      AWS_SECRET_ACCESS_KEY: alice.secretAccessKey,
      AWS_CONFIG_FILE: join(dataDir, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'no-aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    },
    timeout: 60_000,
  });
  return stdout;
}

describe('hsmkms serve on embedded defaults', () => {
  it('creates its token, PINs, store and root credentials in the data directory, private to the user', () => {
    for (const file of ['user.pin', 'so.pin', 'root-credentials.json', 'hsmkms.sqlite'])
      expect(statSync(join(dataDir, file)).mode & 0o077, file).toBe(0);
    expect(served.stderr()).toContain(join(dataDir, 'root-credentials.json'));
    const root = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
    expect(served.stderr()).not.toContain(root.secretAccessKey);
    expect(served.stderr()).not.toContain(readFileSync(join(dataDir, 'user.pin'), 'utf8').trim());
  });

  it('creates principals with IAM-style ARNs', () => {
    expect(alice.arn).toBe('arn:aws:iam::111122223333:user/alice');
    expect(alice.accessKeyId).toMatch(/^[A-Z0-9]{16,128}$/);
    expect(alice.secretAccessKey.length).toBeGreaterThanOrEqual(40);
  });

  it('serves the AWS CLI v2: create-key, encrypt, decrypt, describe-key, create-alias, list-aliases', async () => {
    const { version } = { version: (await run(AWS, ['--version'])).stdout };
    expect(version).toMatch(/^aws-cli\/2\./);
    const created = JSON.parse(await aws(['kms', 'create-key', '--description', 'from the aws cli']));
    const keyId: string = created.KeyMetadata.KeyId;
    expect(created.KeyMetadata.Description).toBe('from the aws cli');
    await aws(['kms', 'create-alias', '--alias-name', 'alias/cli', '--target-key-id', keyId]);
    const plaintextFile = join(dataDir, 'plain.txt');
    writeFileSync(plaintextFile, 'hello from the cli');
    const encrypted = JSON.parse(
      await aws(['kms', 'encrypt', '--key-id', 'alias/cli', '--plaintext', `fileb://${plaintextFile}`, '--encryption-context', 'app=cli']),
    );
    const blobFile = join(dataDir, 'blob.bin');
    writeFileSync(blobFile, Buffer.from(encrypted.CiphertextBlob, 'base64'));
    const decrypted = JSON.parse(
      await aws(['kms', 'decrypt', '--ciphertext-blob', `fileb://${blobFile}`, '--encryption-context', 'app=cli']),
    );
    expect(Buffer.from(decrypted.Plaintext, 'base64').toString()).toBe('hello from the cli');
    const described = JSON.parse(await aws(['kms', 'describe-key', '--key-id', 'alias/cli']));
    expect(described.KeyMetadata.KeyId).toBe(keyId);
    const aliases = JSON.parse(await aws(['kms', 'list-aliases', '--key-id', keyId]));
    expect(aliases.Aliases.map((a: { AliasName: string }) => a.AliasName)).toEqual(['alias/cli']);
  });

  it('reports AWS errors to the CLI by name', async () => {
    const failure = await aws(['kms', 'describe-key', '--key-id', 'alias/missing']).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    expect(failure).toContain('NotFoundException');
  });

  it('answers /health', async () => {
    const res = await fetch(`${served.endpoint}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('serves the built web console at the address it prints, with its CSP', async () => {
    const consoleUrl = /web console at (http:\/\/\S+\/console\/)/.exec(served.stderr())?.[1];
    expect(consoleUrl).toBe(`${served.endpoint}/console/`);
    const res = await fetch(consoleUrl!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(await res.text()).toContain('<meta name="hsmkms-region" content="us-east-1">');
  });

  it('serves /metrics only on the --metrics-listen address', async () => {
    const metricsUrl = /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(served.stderr())?.[1];
    expect(metricsUrl).toBeDefined();
    const res = await fetch(metricsUrl!);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/hsmkms_requests_total\{operation="CreateKey",outcome="ok"\} \d+/);
    const publicRes = await fetch(`${served.endpoint}/metrics`);
    expect(publicRes.status).toBe(404);
  });
});
