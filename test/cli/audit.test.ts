/**
 * The audit commands as an operator runs them, on the trail a real `hsmkms serve` wrote while
 * the AWS SDK called it: public-key (the HSM's key, accepted by openssl), verify, search with
 * pagination and filters, tail and tail --follow, and verify catching an edited line.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { HSMKMS_BIN, hsmkms, serve, testTokenArgs, type Served } from '../support/cli.js';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-audit-cli-'));
const auditDir = join(dataDir, 'audit');
const tokenArgs = testTokenArgs;
const serveArgs = () => ['--data-dir', dataDir, '--port', '0', '--audit-node-id', 'cli', '--audit-digest-records', '5', ...tokenArgs()];
let served: Served;
let kms: KMSClient;
const requestIds: string[] = [];
let keyId: string;

function client(endpoint: string): KMSClient {
  const creds = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  return new KMSClient({ endpoint, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
}

async function audit(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [HSMKMS_BIN, 'audit', ...args], { timeout: 60_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

beforeAll(async () => {
  served = await serve(serveArgs());
  kms = client(served.endpoint);
  const created = await kms.send(new CreateKeyCommand({ Description: 'audited' }));
  keyId = created.KeyMetadata!.KeyId!;
  requestIds.push(created.$metadata.requestId!);
  requestIds.push((await kms.send(new CreateAliasCommand({ AliasName: 'alias/audited', TargetKeyId: keyId }))).$metadata.requestId!);
  for (let i = 0; i < 8; i++) requestIds.push((await kms.send(new EncryptCommand({ KeyId: 'alias/audited', Plaintext: Buffer.from(`secret ${i}`) }))).$metadata.requestId!);
  await expect(kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' }))).rejects.toThrow(/alias\/none/);
  expect(await served.stop()).toBe(0);
  kms.destroy();
}, 180_000);

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('hsmkms audit', () => {
  it('writes one chain for the server, closed by a digest when it stops', () => {
    expect(readdirSync(auditDir).sort()).toEqual(['audit-public-key.pem', 'cli-w0.000000000001.jsonl']);
    const lines = readFileSync(join(auditDir, 'cli-w0.000000000001.jsonl'), 'utf8').trimEnd().split('\n');
    const calls = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.eventType === 'AwsApiCall');
    expect(calls.map((r) => r.requestID)).toEqual(expect.arrayContaining(requestIds));
    expect(calls).toHaveLength(11);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ eventType: 'HsmKmsAuditDigest' });
    for (const secret of ['c2VjcmV0', 'secret 0']) expect(lines.join('\n')).not.toContain(secret);
  });

  it('public-key exports the HSM key; openssl accepts a digest signature with it', async () => {
    const pemFile = join(dataDir, 'exported.pem');
    const { stderr } = await hsmkms(['audit', 'public-key', '--data-dir', dataDir, '--out', pemFile, ...tokenArgs()]);
    expect(stderr).toMatch(/fingerprint .*: [0-9a-f]{64}/);
    const pem = readFileSync(pemFile, 'utf8');
    expect(pem).toBe(readFileSync(join(auditDir, 'audit-public-key.pem'), 'utf8'));
    const digest = readFileSync(join(auditDir, 'cli-w0.000000000001.jsonl'), 'utf8').split('\n').find((l) => l.includes('HsmKmsAuditDigest'))!;
    const m = /^(.*),"signature":"([A-Za-z0-9+/=]+)"}$/.exec(digest)!;
    writeFileSync(join(dataDir, 'payload'), `${m[1]}}`);
    writeFileSync(join(dataDir, 'sig.der'), Buffer.from(m[2]!, 'base64'));
    const out = execFileSync('openssl', ['dgst', '-sha384', '-verify', pemFile, '-signature', join(dataDir, 'sig.der'), join(dataDir, 'payload')], { encoding: 'utf8' });
    expect(out.trim()).toBe('Verified OK');
  });

  it('verify passes the trail with the exported key and exits 0', async () => {
    const result = await audit(['verify', '--data-dir', dataDir, '--public-key', join(dataDir, 'exported.pem')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/cli-w0: records 1–\d+ in 1 file/);
    expect(result.stdout).toMatch(/signatures checked with key [0-9a-f]{64}\n/);
    expect(result.stdout).toMatch(/result: intact\n$/);
    const json = JSON.parse((await audit(['verify', '--data-dir', dataDir, '--json'])).stdout) as { ok: boolean; nodes: unknown[] };
    expect(json).toMatchObject({ ok: true, nodes: [expect.objectContaining({ nodeId: 'cli-w0', records: 11 })] });
  });

  it('search filters like LookupEvents and pages with a marker, newest first', async () => {
    const first = await audit(['search', '--data-dir', dataDir, '--event-name', 'Encrypt', '--max-results', '3', '--json']);
    const page1 = first.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { requestID: string; eventTime: string; sequence: number });
    expect(page1).toHaveLength(3);
    expect(page1.map((r) => r.sequence)).toEqual([...page1.map((r) => r.sequence)].sort((a, b) => b - a));
    const marker = /more: --marker (\S+)/.exec(first.stderr)![1]!;
    const second = await audit(['search', '--data-dir', dataDir, '--event-name', 'Encrypt', '--max-results', '50', '--marker', marker, '--json']);
    const page2 = second.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { requestID: string });
    expect(page2).toHaveLength(5);
    expect(second.stderr).not.toContain('more:');
    expect(new Set([...page1, ...page2].map((r) => r.requestID)).size).toBe(8);

    const notFound = await audit(['search', '--data-dir', dataDir, '--error-code', 'NotFoundException']);
    expect(notFound.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(notFound.stdout).toMatch(/DescribeKey\s+NotFoundException\s+arn:aws:iam::111122223333:root\s+alias\/none/);
    // Every filter, and time windows, are covered on the library in test/audit/query.test.ts.
    const byAlias = await audit(['search', '--data-dir', dataDir, '--key', 'alias/audited', '--principal', '111122223333', '--json']);
    expect(byAlias.stdout.trimEnd().split('\n')).toHaveLength(9);
    const bad = await audit(['search', '--data-dir', dataDir, '--marker', 'not-a-marker!']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Marker that is not valid/);
    expect((await audit(['search', '--data-dir', dataDir, '--from', 'yesterday'])).stderr).toMatch(/--from must be an ISO 8601 time/);
  });

  it('tail prints the latest calls oldest first, and follows new ones', async () => {
    const last = await audit(['tail', '--data-dir', dataDir, '-n', '2']);
    const lines = last.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ Encrypt /);
    expect(lines[1]).toMatch(/ DescribeKey .*NotFoundException/);

    served = await serve(serveArgs());
    const follower = spawn(process.execPath, [HSMKMS_BIN, 'audit', 'tail', '--data-dir', dataDir, '-n', '0', '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const following = new Promise((resolve) => follower.stderr.on('data', (chunk: Buffer) => chunk.toString().includes('following') && resolve(undefined)));
    try {
      await following;
      const kms2 = client(served.endpoint);
      const id = (await kms2.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('followed') }))).$metadata.requestId!;
      kms2.destroy();
      for (let i = 0; i < 50 && !out.includes(id); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { requestID: string }).requestID)).toEqual([id]);
    } finally {
      follower.kill('SIGINT');
      expect(await served.stop()).toBe(0);
    }
  });

  it('verify exits 1 and names the line when the trail was edited', async () => {
    const file = join(auditDir, 'cli-w0.000000000001.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"eventName":"Encrypt"', '"eventName":"Decrypt"');
    writeFileSync(file, lines.join('\n'));
    const result = await audit(['verify', '--data-dir', dataDir, '--public-key', join(dataDir, 'exported.pem')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/PROBLEM changed\s+cli-w0: record 4 \(cli-w0\.000000000001\.jsonl:4\) was changed/);
    expect(result.stdout).toMatch(/result: TAMPERED \(1 problem\)\n$/);
  });
});
