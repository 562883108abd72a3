/**
 * `hsmkms serve --recycle-worker-after`: a replacement that hangs while it starts (stopped here with
 * SIGSTOP, as a blocked HSM or store call would hold it) must not hold the slot's recycling for
 * ever. The primary stops it after a bound, the old worker serves on meanwhile, asks again, and
 * the next replacement takes over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { alive, serve, testTokenArgs, type Served } from '../support/cli.js';

let dataDir: string;
let served: Served;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-recycle-stuck-'));
  served = await serve(['--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--recycle-worker-after', '100', '--key-cache-size', '1', '--log-level', 'warn']);
}, 120_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function until<T>(find: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${served.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a replacement that hangs while starting', () => {
  it('is stopped, the old worker serves on, and the next replacement takes over', async () => {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
    const kms = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials });
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) keys.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
    // Two keys through a one-entry handle cache: every Encrypt unwraps, one token object each.
    let stop = false;
    let done = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        await kms.send(new EncryptCommand({ KeyId: keys[i % 2]!, Plaintext: Buffer.from('x') }));
        done++;
        if (done > 200) await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let hung = 0;
    try {
      const starting = () => [...served.stderr().matchAll(/starting its replacement \(pid (\d+)\)/g)].map((m) => Number(m[1]));
      hung = await until(() => starting()[0], 90_000, 'a replacement to start');
      process.kill(hung, 'SIGSTOP');
      await until(() => new RegExp(`its replacement \\(pid ${hung}\\) did not listen within \\d+ s; stopping it`).test(served.stderr()), 90_000, 'the hung replacement to be stopped');
      await until(() => !alive(hung), 10_000, `pid ${hung} to exit`);
      const before = done;
      const next = await until(() => starting()[1], 90_000, 'the next replacement');
      expect(next).not.toBe(hung);
      await until(() => new RegExp(`worker 0 replaced: pid ${next} listens`).test(served.stderr()), 90_000, 'the next replacement to listen');
      expect(done).toBeGreaterThan(before);
      expect(served.stderr()).not.toMatch(/replaced: pid \d+ listens[\s\S]*replaced: pid \d+ listens/);
    } finally {
      // Should it still be there (the test failed), let it go on, or nothing could stop it.
      if (hung && alive(hung)) process.kill(hung, 'SIGCONT');
      stop = true;
      await load;
      kms.destroy();
    }
    expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
  }, 240_000);
});
