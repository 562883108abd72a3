/**
 * `hsmkms serve --metrics-listen` while a worker is replaced (`--recycle-worker-after`): the primary
 * sums the workers' metrics, and a scrape must not wait on a replacement that is still starting
 * (it cannot answer yet) nor on a replaced worker that exits meanwhile: every scrape during the
 * swap is answered, at once, with the serving workers' sum. And the counters stay counters: the
 * replaced worker's counts do not leave the sum when it exits (Prometheus would read a reset).
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
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-recycle-metrics-'));
  served = await serve([
    '--data-dir', dataDir,
    '--port', '0',
    ...testTokenArgs(),
    '--recycle-worker-after', '100',
    '--key-cache-size', '1',
    '--metrics-listen', '127.0.0.1:0',
    '--log-level', 'warn',
  ]);
}, 120_000);
afterAll(async () => {
  await served?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** hsmkms_requests_total summed over its series. */
const requestsTotal = (text: string): number => [...text.matchAll(/^hsmkms_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);

async function scrape(url: string): Promise<{ status: number; ms: number; text: string }> {
  const start = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  return { status: response.status, ms: Date.now() - start, text: await response.text() };
}

describe('metrics while a worker is replaced', () => {
  it('answers every scrape during two swaps at once, with counts that never go down and the replacements so far', async () => {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
    const kms = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials });
    const metricsUrl = /metrics at (http:\/\/\S+\/metrics)/.exec(served.stderr())![1]!;
    expect((await scrape(metricsUrl)).status).toBe(200);
    const keys = [];
    for (let i = 0; i < 2; i++) keys.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
    // Two keys through a one-entry handle cache: every Encrypt unwraps, one token object each.
    let stop = false;
    const load = (async () => {
      for (let i = 0; !stop; i++) await kms.send(new EncryptCommand({ KeyId: keys[i % 2]!, Plaintext: Buffer.from('x') }));
    })();
    const scrapes: Array<{ status: number; ms: number; requests: number; swap: number; recycles: number }> = [];
    try {
      const end = Date.now() + 150_000;
      // Two swaps (the second replaces the first replacement).
      for (let swap = 1; swap <= 2; swap++) {
        while ([...served.stderr().matchAll(/starting its replacement/g)].length < swap) {
          if (Date.now() > end) throw new Error(`replacement ${swap} did not start:\n${served.stderr()}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        // Scrape from the moment the replacement starts until the replaced worker has exited.
        let old = 0;
        while (old === 0 || alive(old)) {
          if (Date.now() > end) throw new Error(`swap ${swap} did not end:\n${served.stderr()}`);
          const { status, ms, text } = await scrape(metricsUrl);
          scrapes.push({ status, ms, requests: requestsTotal(text), swap, recycles: Number(/^hsmkms_worker_recycles (\d+)/m.exec(text)?.[1]) });
          old = Number([...served.stderr().matchAll(/replaced: pid \d+ listens; pid (\d+) finishes/g)][swap - 1]?.[1] ?? 0);
        }
      }
    } finally {
      stop = true;
      await load;
      kms.destroy();
    }
    expect(scrapes.length).toBeGreaterThan(0);
    expect(scrapes.filter((s) => s.status !== 200 || s.ms > 4_000)).toEqual([]);
    // Replacements so far: the one before the swap or the one after, never the two workers' sum.
    expect(scrapes.filter((s) => s.recycles !== s.swap - 1 && s.recycles !== s.swap)).toEqual([]);
    const after = await scrape(metricsUrl);
    expect(after.status).toBe(200);
    expect(Number(/^hsmkms_worker_recycles (\d+)/m.exec(after.text)?.[1])).toBe(2);
    // The load has stopped: the sum counts at least what it counted while both workers served.
    const most = Math.max(...scrapes.map((s) => s.requests));
    expect(most).toBeGreaterThan(100);
    expect(requestsTotal(after.text)).toBeGreaterThanOrEqual(most);
  }, 240_000);
});
