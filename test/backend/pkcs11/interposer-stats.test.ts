/**
 * The interposer's statistics (HSMKMS_INTERPOSER_STATS), which the latency benchmark reads to
 * print the per-call HSM time actually delivered beside the nominal one: every call is counted,
 * the latency asked for is summed exactly, and the latency added is never less than asked (the
 * sleep runs to an absolute deadline from the call's start). (cloudhsm project only.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { interposerControl } from '../../support/interposer.js';
import { perCall, readInterposerStats } from '../../pkcs11-interposer/stats.mjs';
import { openTestBackend } from './helpers.js';

const control = interposerControl();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-interposer-stats-'));
const statsFile = join(dir, 'stats');
// Read when the interposer is loaded, as the control file's path is.
process.env.HSMKMS_INTERPOSER_STATS = statsFile;
let backend: Pkcs11Backend;

beforeAll(async () => {
  backend = await openTestBackend({ poolSize: 2 });
});
afterAll(async () => {
  await backend.close();
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the interposer statistics', () => {
  it('count every call with the latency asked for and the latency it got', async () => {
    expect(readInterposerStats(statsFile).calls).toBeGreaterThan(0); // opening the backend made calls
    const material = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const key = { id: 'stats-aes', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: material.wrapped, publicKey: Buffer.alloc(0) };
    await backend.encryptSymmetric(key, Buffer.from('warm'), Buffer.alloc(0)); // the key's handle is cached from now on
    control.set(['latency_us=3000', 'cloudhsm=1']);
    const before = readInterposerStats(statsFile);
    for (let i = 0; i < 5; i++) await backend.encryptSymmetric(key, Buffer.from(`m${i}`), Buffer.alloc(0));
    const got = perCall(before, readInterposerStats(statsFile));
    // C_EncryptInit and C_Encrypt per Encrypt, nothing else.
    expect(got.calls).toBe(10);
    expect(got.nominalMs).toBeCloseTo(3, 6);
    expect(got.addedMs).toBeGreaterThanOrEqual(3);
    expect(got.inCallMs).toBeGreaterThanOrEqual(got.addedMs);
    control.set([]);
  });

  it('adds nothing to the latency counters when no latency is asked for', async () => {
    control.set(['latency_us=0', 'cloudhsm=1']);
    const before = readInterposerStats(statsFile);
    expect(await backend.generateRandom(16)).toHaveLength(16);
    const got = perCall(before, readInterposerStats(statsFile));
    expect(got.calls).toBe(1);
    expect(got.nominalMs).toBe(0);
    control.set([]);
  });
});
