/**
 * `hsmkms serve --recycle-worker-after <n>`: SoftHSM2 keeps a remnant of every object destroyed
 * in it until the process exits, so a worker that has made `n` objects in the token is replaced —
 * the primary starts its successor, which listens before the old one stops accepting, answers what
 * it has in flight and exits. Under a mixed load across more keys than the handle cache holds (every
 * use a cold unwrap), through the AWS SDK with its default retries: workers are replaced, no
 * request fails, a key disabled during a swap is refused on its next request (whichever worker
 * answers) and works again once enabled, and the metrics and the audit trail show it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DecryptCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { alive, hsmkms, serve, testTokenArgs, type Served } from '../support/cli.js';

const LIMIT = 300;
let dataDir: string;
let served: Served;
let credentials: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-recycle-'));
  served = await serve([
    '--data-dir', dataDir,
    '--port', '0',
    ...testTokenArgs(),
    '--recycle-worker-after', String(LIMIT),
    '--key-cache-size', '4',
    '--metrics-listen', '127.0.0.1:0',
    '--log-level', 'warn',
  ]);
  credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
}, 180_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A client as applications make them: the SDK's default retries (3 attempts). */
const client = () => new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials });

const replacements = () => [...served.stderr().matchAll(/worker 0 replaced: pid (\d+) listens; pid (\d+) finishes/g)].map((m) => ({ next: Number(m[1]), old: Number(m[2]) }));
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${served.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('worker recycling', () => {
  it('runs one worker under a primary and says so', () => {
    expect(served.stderr()).toMatch(/listening on http:\/\/\S+ \(1 worker, each replaced after 300 token objects,/);
  });

  it('replaces the worker under a mixed concurrent load across many keys without failing a request', async () => {
    const admin = client();
    const keys: string[] = [];
    for (let i = 0; i < 12; i++) keys.push((await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
    const signing = (await admin.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const victim = keys[0]!;

    const failures: unknown[] = [];
    let done = 0;
    let retried = 0;
    let stop = false;
    const clients = Array.from({ length: 6 }, client);
    const loop = async (kms: KMSClient, n: number) => {
      for (let i = 0; !stop; i++) {
        const keyId = keys[1 + ((n * 7 + i) % (keys.length - 1))]!;
        try {
          const kind = (n + i) % 4;
          if (kind === 0) {
            const { CiphertextBlob, $metadata } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`m${n}-${i}`) }));
            const out = await kms.send(new DecryptCommand({ CiphertextBlob }));
            expect(Buffer.from(out.Plaintext!).toString()).toBe(`m${n}-${i}`);
            if (($metadata.attempts ?? 1) > 1 || (out.$metadata.attempts ?? 1) > 1) retried++;
          } else if (kind === 1) {
            const out = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
            expect(out.Plaintext).toHaveLength(32);
            if ((out.$metadata.attempts ?? 1) > 1) retried++;
          } else {
            // Verify makes a public key object in the token on every call, cached key or not.
            const message = Buffer.from(`s${n}-${i}`);
            const { Signature } = await kms.send(new SignCommand({ KeyId: signing, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
            const out = await kms.send(new VerifyCommand({ KeyId: signing, Message: message, Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
            expect(out.SignatureValid).toBe(true);
            if ((out.$metadata.attempts ?? 1) > 1) retried++;
          }
          done++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const running = clients.map(loop);
    try {
      // First swap: disable a key while the replacement starts, then check it is refused by
      // whichever worker answers, and works again once enabled.
      await until(() => /starting its replacement/.test(served.stderr()), 90_000, 'a replacement to start');
      await admin.send(new DisableKeyCommand({ KeyId: victim }));
      await until(() => replacements().length >= 1, 90_000, 'the first replacement to listen');
      const [first] = replacements();
      for (let i = 0; i < 6; i++) {
        // Fresh clients: fresh connections, which only the new worker takes.
        const fresh = client();
        await expect(fresh.send(new EncryptCommand({ KeyId: victim, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({ name: 'DisabledException' });
        fresh.destroy();
      }
      // Clients of the load hold connections to both workers (the old one still answers on them).
      for (const c of clients)
        await expect(c.send(new EncryptCommand({ KeyId: victim, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({ name: 'DisabledException' });
      await admin.send(new EnableKeyCommand({ KeyId: victim }));
      const blob = (await admin.send(new EncryptCommand({ KeyId: victim, Plaintext: Buffer.from('back') }))).CiphertextBlob!;
      expect(Buffer.from((await admin.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString()).toBe('back');
      // The old worker finishes and exits; the load goes on to a second swap.
      await until(() => !alive(first!.old), 60_000, `pid ${first!.old} to exit`);
      await until(() => replacements().length >= 2, 120_000, 'a second replacement');
    } finally {
      stop = true;
      await Promise.all(running);
      for (const c of clients) c.destroy();
    }
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(LIMIT);
    const [first, second] = replacements();
    expect(new Set([first!.old, first!.next, second!.next]).size).toBe(3);
    expect(second!.old).toBe(first!.next);
    console.log(`recycling: ${done} request pairs, ${retried} retried by the SDK, replacements ${JSON.stringify(replacements())}`);

    // The metrics, summed over the workers by the primary, count the replacements.
    const metricsUrl = /metrics at (http:\/\/[^\s]+\/metrics)/.exec(served.stderr())![1]!;
    const metrics = await (await fetch(metricsUrl)).text();
    expect(Number(/^hsmkms_worker_recycles (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/hsmkms_backend_pool\{stat="tokenObjectsMade"\} \d+/);

    // The replacement wrote its own audit chain (the two alternate), and every chain verifies.
    expect(readdirSync(join(dataDir, 'audit')).some((f) => /-w0b[.-]/.test(f))).toBe(true);
    const report = JSON.parse((await hsmkms(['audit', 'verify', '--data-dir', dataDir, '--json'])).stdout);
    expect(report.ok).toBe(true);
    admin.destroy();
  }, 300_000);

  it('stops at once, status 1, when its sole worker cannot start (no restart loop)', async () => {
    const notADirectory = join(dataDir, 'root-credentials.json');
    await expect(
      serve(['--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--recycle-worker-after', '1000', '--audit-dir', notADirectory]),
    ).rejects.toThrow(/exited with 1:[\s\S]*The audit trail in .* cannot be opened[\s\S]*worker 0 could not start \(1\); stopping/);
  });

  it('refuses an invalid --recycle-worker-after with a message naming the flag', async () => {
    for (const bad of ['5', 'abc', '1e6', '-1']) {
      await expect(hsmkms(['serve', '--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--recycle-worker-after', bad])).rejects.toMatchObject({
        stderr: expect.stringMatching(/--recycle-worker-after must be a number of token objects from 100 to 1000000000, or off/),
      });
    }
  });
});
