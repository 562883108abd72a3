/** `hsmkms serve --workers 2`: one process per core sharing the port, the token and the store. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import { serve, type Served } from '../support/cli.js';

let dataDir: string;
let served: Served;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-workers-'));
  served = await serve(['--data-dir', dataDir, '--port', '0', '--workers', '2', '--log-level', 'warn', '--metrics-listen', '127.0.0.1:0']);
}, 180_000);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('serves from two workers: keys made through one are usable through the other, and SIGTERM stops them all', async () => {
  expect(served.stderr()).toMatch(/\(2 workers/);
  // The primary prints the console's address, as a single process does.
  // (its own line, which may arrive in a later chunk than "listening on").
  const consoleLine = /web console at (http:\/\/\S+\/console\/)/;
  for (let i = 0; i < 50 && !consoleLine.test(served.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
  expect(consoleLine.exec(served.stderr())?.[1]).toBe(`${served.endpoint}/console/`);
  expect((await fetch(`${served.endpoint}/console/`)).headers.get('content-security-policy')).toContain("default-src 'none'");
  const credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
  const kms = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const keyIds: string[] = [];
  // New connections are spread over the workers, so some of these cross from one to the other.
  for (let i = 0; i < 6; i++) keyIds.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
  const blobs = await Promise.all(
    keyIds.map((KeyId) => kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from(KeyId) })).then((r) => r.CiphertextBlob!)),
  );
  const fresh = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const plain = await Promise.all(blobs.map((CiphertextBlob) => fresh.send(new DecryptCommand({ CiphertextBlob }))));
  expect(plain.map((p) => Buffer.from(p.Plaintext!).toString())).toEqual(keyIds);
  kms.destroy();
  fresh.destroy();
  // The primary serves the workers' metrics summed; the API port serves none.
  const metricsUrl = /metrics at (http:\/\/[^\s]+\/metrics)/.exec(served.stderr())![1]!;
  expect(new URL(metricsUrl).port).not.toBe(new URL(served.endpoint).port);
  const text = await (await fetch(metricsUrl)).text();
  expect(text).toContain('hsmkms_requests_total{operation="CreateKey",outcome="ok"} 6');
  expect(text).toContain('hsmkms_requests_total{operation="Decrypt",outcome="ok"} 6');
  expect((await fetch(`${served.endpoint}/metrics`)).status).toBe(404);
  expect(await served.stop()).toBe(0);
});

it('refuses a key disabled through one worker on the very next request to any worker, and serves it again once enabled', async () => {
  // A server of its own: the other test counts its requests in the metrics.
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-workers-'));
  const own = await serve(['--data-dir', dir, '--port', '0', '--workers', '2', '--log-level', 'warn']);
  const credentials = JSON.parse(readFileSync(join(dir, 'root-credentials.json'), 'utf8'));
  const admin = new KMSClient({ endpoint: own.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  // Each client has its own connection, and new connections are spread over the workers.
  const clients = Array.from({ length: 6 }, () => new KMSClient({ endpoint: own.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 }));
  try {
    const KeyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const encryptAll = () =>
      Promise.all(clients.map((c) => c.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') })).then(() => 'ok', (e: Error) => e.name)));
    // Every worker has the key in its read cache.
    expect(await encryptAll()).toEqual(clients.map(() => 'ok'));
    for (let round = 0; round < 3; round++) {
      await admin.send(new DisableKeyCommand({ KeyId }));
      expect(await encryptAll()).toEqual(clients.map(() => 'DisabledException'));
      await admin.send(new EnableKeyCommand({ KeyId }));
      expect(await encryptAll()).toEqual(clients.map(() => 'ok'));
    }
  } finally {
    admin.destroy();
    for (const c of clients) c.destroy();
    await own.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
