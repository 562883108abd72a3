/**
 * Crash safety of a real `hsmkms serve`: SIGKILL under mixed load (CreateKey, Encrypt,
 * ScheduleKeyDeletion, CreateAlias), then a restart on the same data directory and token.
 * Everything the service reported as done must still be there and work; whatever it was
 * doing when killed must be either complete or absent, never half made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { serve, testTokenArgs, type Served } from '../support/cli.js';

const credentials = { accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64') };
let dataDir: string;

/** `hsmkms serve` on the run's token (no token set-up to wait for) and a private data directory. */
function start(): Promise<Served> {
  return serve(
    [
      '--data-dir', dataDir,
      '--port', '0',
      ...testTokenArgs(),
      '--log-level', 'warn',
      // One process, so that SIGKILL of the spawned pid kills the process serving the requests
      // (under the recycling primary the worker would exit on the IPC disconnect instead).
      '--recycle-worker-after', 'off',
    ],
    { HSMKMS_ROOT_ACCESS_KEY_ID: credentials.accessKeyId, HSMKMS_ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey },
  );
}

const client = (endpoint: string) => new KMSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-crash-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Reported {
  keys: string[];
  ciphertexts: { keyId: string; blob: Uint8Array; plaintext: string; context: Record<string, string> }[];
  scheduled: Set<string>;
  aliases: Map<string, string>;
}

describe('kill -9 under load', () => {
  it('loses nothing it reported and shows nothing half-made after a restart', async () => {
    const first = await start();
    const kms = client(first.endpoint);
    const reported: Reported = { keys: [], ciphertexts: [], scheduled: new Set(), aliases: new Map() };
    let killed = false;
    let n = 0;
    const unexpected: unknown[] = [];
    let inFlight = 0;
    // Every third key is scheduled for deletion; the others take the encryptions and aliases.
    const lasting = () => reported.keys.filter((_k, i) => i % 3 !== 2);

    /** One client's loop: the four operations in turn, recording only what the service confirmed. */
    async function worker(id: number): Promise<void> {
      while (!killed) {
        const step = n++;
        inFlight++;
        try {
          switch (step % 4) {
            case 0: {
              const keyId = (await kms.send(new CreateKeyCommand({ Description: `crash ${id}/${step}` }))).KeyMetadata!.KeyId!;
              reported.keys.push(keyId);
              break;
            }
            case 1: {
              const keyId = lasting().at(-1);
              if (!keyId) break;
              const plaintext = `secret ${step}`;
              const context = { step: String(step) };
              const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext), EncryptionContext: context }))).CiphertextBlob!;
              reported.ciphertexts.push({ keyId, blob, plaintext, context });
              break;
            }
            case 2: {
              const keyId = reported.keys.find((k, i) => i % 3 === 2 && !reported.scheduled.has(k));
              if (!keyId) break;
              reported.scheduled.add(keyId); // before the answer: a killed request may still have landed
              await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
              break;
            }
            default: {
              const keyId = lasting().at(-1);
              if (!keyId) break;
              const alias = `alias/crash-${step}`;
              await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyId }));
              reported.aliases.set(alias, keyId);
            }
          }
        } catch (error) {
          // Once killed, requests fail for want of a server; before that, nothing may.
          if (!killed) unexpected.push(error);
        } finally {
          inFlight--;
        }
      }
    }

    const workers = Array.from({ length: 6 }, (_, i) => worker(i));
    // Kill once every kind of work has been confirmed a few times, while more is in flight.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (reported.keys.length < 12 || reported.ciphertexts.length < 6 || reported.aliases.size < 4)) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    killed = true;
    const cutShort = inFlight;
    await Promise.allSettled(workers);
    if (first.child.exitCode === null && first.child.signalCode === null) await once(first.child, 'exit');
    expect(first.child.signalCode).toBe('SIGKILL');
    kms.destroy();
    expect(unexpected).toEqual([]);
    expect(cutShort).toBeGreaterThan(0); // requests were in flight when the process died
    expect(reported.keys.length).toBeGreaterThanOrEqual(12);
    expect(reported.ciphertexts.length).toBeGreaterThanOrEqual(6);

    const second = await start();
    const after = client(second.endpoint);
    try {
      // Every reported key is there, in the state it was left in.
      for (const keyId of reported.keys) {
        const { KeyMetadata } = await after.send(new DescribeKeyCommand({ KeyId: keyId }));
        expect([reported.scheduled.has(keyId) ? 'PendingDeletion' : 'Enabled', 'Enabled']).toContain(KeyMetadata!.KeyState);
        if (!reported.scheduled.has(keyId)) expect(KeyMetadata!.KeyState).toBe('Enabled');
      }
      // Keys scheduled for deletion keep their material: cancel and enable, then they encrypt (below).
      for (const keyId of reported.scheduled) {
        const { KeyMetadata } = await after.send(new DescribeKeyCommand({ KeyId: keyId }));
        if (KeyMetadata!.KeyState === 'PendingDeletion') {
          await after.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
          await after.send(new EnableKeyCommand({ KeyId: keyId }));
        }
      }
      // Every reported ciphertext decrypts to its plaintext.
      for (const c of reported.ciphertexts) {
        const out = await after.send(new DecryptCommand({ CiphertextBlob: c.blob, EncryptionContext: c.context }));
        expect(Buffer.from(out.Plaintext!).toString()).toBe(c.plaintext);
        expect(out.KeyId).toContain(c.keyId);
      }
      // Every reported alias names its key.
      for (const [alias, keyId] of reported.aliases) {
        const { KeyMetadata } = await after.send(new DescribeKeyCommand({ KeyId: alias }));
        expect(KeyMetadata!.KeyId).toBe(keyId);
      }

      // Nothing half-made: every key the store lists, reported or not, is whole and usable, and
      // every alias points at a key that exists.
      const listed: string[] = [];
      let marker: string | undefined;
      do {
        const page = await after.send(new ListKeysCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
        listed.push(...page.Keys!.map((k) => k.KeyId!));
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
      expect(listed).toEqual(expect.arrayContaining(reported.keys));
      for (const keyId of listed) {
        const { KeyMetadata } = await after.send(new DescribeKeyCommand({ KeyId: keyId }));
        if (KeyMetadata!.KeyState !== 'Enabled') continue;
        const blob = (await after.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('whole?') }))).CiphertextBlob!;
        const back = await after.send(new DecryptCommand({ CiphertextBlob: blob }));
        expect(Buffer.from(back.Plaintext!).toString()).toBe('whole?');
      }
      const aliases = (await after.send(new ListAliasesCommand({ Limit: 100 }))).Aliases!;
      for (const alias of aliases.filter((a) => a.AliasName!.startsWith('alias/crash-'))) expect(listed).toContain(alias.TargetKeyId);
      expect((await fetch(`${second.endpoint}/health`)).status).toBe(200);
    } finally {
      after.destroy();
      expect(await second.stop()).toBe(0);
    }
  }, 180_000);
});
