/**
 * Cached key handles never outlive the owner session that made them (handle-cache.ts, epochs).
 * The unwrapped keys and Verify's public keys are session objects of the owner session; when it is
 * replaced (lost, device error) or its login is lost, their handle numbers are free, and an HSM
 * that reuses numbers (CloudHSM does; SoftHSM2 does not) gives them to new objects — another
 * caller's key. So no call may use, or destroy, a handle made before that point.
 *
 * SoftHSM2 cannot show the wrong key being used (its numbers only grow), so the interposer logs
 * every object handle the module is given or makes (object_log), from every thread, and the test
 * asserts on the log: no handle made on a session is used after that session was closed, nor
 * after a lost login was renewed. (cloudhsm project only: it needs the interposer.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { interposerControl } from '../../support/interposer.js';
import { openTestBackend } from './helpers.js';

const control = interposerControl();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-epochs-'));
const log = join(dir, 'objects.log');
const CALL_TIMEOUT_MS = 10_000;
const aad = Buffer.from('ctx');
const backends: Pkcs11Backend[] = [];

afterAll(async () => {
  control.set([]);
  for (const b of backends) await b.close();
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function open(extra: { poolSize: number; cacheSize?: number }): Promise<Pkcs11Backend> {
  const b = await openTestBackend({ callTimeoutMs: CALL_TIMEOUT_MS, ...extra });
  backends.push(b);
  return b;
}

async function aesKey(b: Pkcs11Backend, id: string): Promise<MaterialRef> {
  return { id, keySpec: 'SYMMETRIC_DEFAULT', wrapped: (await b.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped };
}

const ownerOf = (b: Pkcs11Backend) => (b as unknown as { owner: Handle }).owner;
const logLines = () => {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

/**
 * Uses, in the log from line `from` on, of object handles made on a session that was closed
 * before the use, or (`endedAt`) made before that line: each as "line: use (made on session S,
 * closed at line N)".
 */
function staleUses(lines: string[], from = 0, endedAt = -1): string[] {
  const madeOn = new Map<string, { session: string; at: number }>();
  const closedAt = new Map<string, number>();
  const stale: string[] = [];
  lines.forEach((line, i) => {
    const [fn, session, third, fourth] = line.split(' ');
    if (fn === 'C_CloseSession') closedAt.set(session!, i);
    else if (third === '->') madeOn.set(fourth!, { session: session!, at: i });
    else if (i >= from) {
      const made = madeOn.get(third!);
      if (!made) return; // a token object found by a search, not made here
      const closed = closedAt.get(made.session);
      if (closed !== undefined && closed > made.at && closed < i) stale.push(`${i}: ${line} (made on session ${made.session} at line ${made.at}, closed at line ${closed})`);
      else if (endedAt >= 0 && made.at < endedAt) stale.push(`${i}: ${line} (made at line ${made.at}, before the login was lost at line ${endedAt})`);
    }
  });
  return stale;
}

/** Closes the backend's owner session behind its back, then lets the health check find and replace it. */
async function loseOwner(b: Pkcs11Backend): Promise<void> {
  const owner = ownerOf(b);
  b.module.C_CloseSession(owner);
  expect(await b.health()).toMatchObject({ ok: true });
  expect(ownerOf(b)).not.toEqual(owner);
}

describe('an owner session replaced while its handles are in use', () => {
  beforeAll(() => control.set(['cloudhsm=1', `object_log=${log}`]));

  it('never runs an operation queued before the reset with the old handle; it succeeds with a fresh one', async () => {
    const b = await open({ poolSize: 1 });
    const key = await aesKey(b, 'epochs-inflight');
    await b.encryptSymmetric(key, Buffer.from('warm'), aad); // cached from now on
    control.set(['cloudhsm=1', `object_log=${log}`, 'hang=C_Encrypt count=1']);
    // The first Encrypt's C_Encrypt blocks; the second, with the same cached handle, is queued
    // behind it on the one session (session-pool.ts): its C_EncryptInit is not made yet.
    const first = settle(b.encryptSymmetric(key, Buffer.from('first'), aad));
    await tick();
    const second = settle(b.encryptSymmetric(key, Buffer.from('second'), aad));
    await tick();
    expect(b.stats().jobsQueuedOnBusySessions).toBeGreaterThan(0);
    await loseOwner(b);
    const from = logLines().length;
    control.set(['cloudhsm=1', `object_log=${log}`]); // released
    const [a, c] = [await first, await second];
    // Both succeed, each under the right key (the one Decrypt unwraps again from the blob).
    for (const [r, text] of [[a, 'first'], [c, 'second']] as const) {
      expect(r).toHaveProperty('value');
      const { iv, ciphertext } = (r as { value: { iv: Buffer; ciphertext: Buffer } }).value;
      expect((await b.decryptSymmetric(key, iv, ciphertext, aad)).toString()).toBe(text);
    }
    expect(staleUses(logLines(), from)).toEqual([]);
  });

  it('never destroys, on the new owner session, a handle evicted while in use before the reset', async () => {
    const b = await open({ poolSize: 2, cacheSize: 1 });
    const [k1, k2] = [await aesKey(b, 'epochs-evicted-1'), await aesKey(b, 'epochs-evicted-2')];
    await b.encryptSymmetric(k1, Buffer.from('warm'), aad);
    control.set(['cloudhsm=1', `object_log=${log}`, 'hang=C_Encrypt count=1']);
    const held = settle(b.encryptSymmetric(k1, Buffer.from('held'), aad)); // holds k1's handle
    await tick();
    await b.encryptSymmetric(k2, Buffer.from('evicts'), aad); // k1 is evicted: destroyed when released
    await loseOwner(b);
    const from = logLines().length;
    control.set(['cloudhsm=1', `object_log=${log}`]); // released: k1's lease ends after the reset
    expect(await held).toHaveProperty('value');
    // Whatever the owner queue had (a destroy) has run before this unwrap on it.
    const c = await b.encryptSymmetric(k1, Buffer.from('after'), aad);
    expect((await b.decryptSymmetric(k1, c.iv, c.ciphertext, aad)).toString()).toBe('after');
    const lines = logLines();
    expect(staleUses(lines, from)).toEqual([]);
    // And no C_DestroyObject on the new owner session of a handle it did not make.
    const owner = Buffer.from(ownerOf(b)).readBigUInt64LE(0).toString();
    const madeByOwner = new Set(lines.filter((l) => l.startsWith(`C_UnwrapKey ${owner} -> `) || l.startsWith(`C_CreateObject ${owner} -> `)).map((l) => l.split(' ')[3]));
    const destroyed = lines.slice(from).filter((l) => l.startsWith(`C_DestroyObject ${owner} `)).map((l) => l.split(' ')[2]);
    for (const h of destroyed) expect(madeByOwner).toContain(h);
  });

  it('makes no new object while a call with an old handle, already past its check, is still in the module', async () => {
    const b = await open({ poolSize: 2 });
    const [k1, k2] = [await aesKey(b, 'epochs-barrier-1'), await aesKey(b, 'epochs-barrier-2')];
    await b.encryptSymmetric(k1, Buffer.from('warm'), aad);
    // k1's C_EncryptInit reaches the module (its job passed the epoch check) and stops there, as a
    // call a busy thread has not finished making yet; meanwhile the owner session is replaced.
    control.set(['cloudhsm=1', `object_log=${log}`, 'hang=C_EncryptInit count=1']);
    const inModule = settle(b.encryptSymmetric(k1, Buffer.from('in the module'), aad));
    await tick();
    await loseOwner(b);
    const from = logLines().length;
    // k2 is cold: its unwrap on the new owner session waits for the old call to be done.
    const cold = settle(b.encryptSymmetric(k2, Buffer.from('cold'), aad));
    await tick(300);
    control.set(['cloudhsm=1', `object_log=${log}`]); // released
    const [a, c] = [await inModule, await cold];
    for (const [r, key, text] of [[a, k1, 'in the module'], [c, k2, 'cold']] as const) {
      expect(r).toHaveProperty('value');
      const { iv, ciphertext } = (r as { value: { iv: Buffer; ciphertext: Buffer } }).value;
      expect((await b.decryptSymmetric(key, iv, ciphertext, aad)).toString()).toBe(text);
    }
    // The old call reached the token after its session closed (the test closed it under the call);
    // what matters is that no object was made before it did, which could have taken its number.
    const lines = logLines();
    const stale = staleUses(lines, from);
    expect(stale.length).toBeGreaterThan(0);
    const firstStale = Number(stale[0]!.split(':')[0]);
    expect(lines.slice(from, firstStale).filter((l) => l.includes(' -> '))).toEqual([]);
  });

  it('forgets every cached handle when the login is renewed (a logout destroyed the private session objects)', async () => {
    const b = await open({ poolSize: 1 });
    const key = await aesKey(b, 'epochs-relogin');
    const signing: MaterialRef & { publicKey: Buffer } = { id: 'epochs-relogin-ec', keySpec: 'ECC_NIST_P256', ...(await b.generateKeyMaterial('ECC_NIST_P256')) } as MaterialRef & { publicKey: Buffer };
    const message = Buffer.from('signed');
    const signature = await b.sign(signing, 'ECDSA_SHA_256', message, 'RAW');
    expect(await b.verify(signing, 'ECDSA_SHA_256', message, 'RAW', signature)).toBe(true); // a public key object cached
    await b.encryptSymmetric(key, Buffer.from('warm'), aad);
    const lost = logLines().length;
    const m = b.module;
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === process.env.HSMKMS_TEST_TOKEN)!;
    const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    m.C_Logout(s);
    m.C_CloseSession(s);
    expect(await b.health()).toMatchObject({ ok: true }); // found logged out: logged in again
    const from = logLines().length;
    const c = await b.encryptSymmetric(key, Buffer.from('after'), aad);
    expect((await b.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe('after');
    expect(await b.verify(signing, 'ECDSA_SHA_256', message, 'RAW', signature)).toBe(true);
    expect(await b.verify(signing, 'ECDSA_SHA_256', Buffer.from('other'), 'RAW', signature)).toBe(false);
    expect(staleUses(logLines(), from, lost)).toEqual([]);
  });

  it('keeps Encrypt, Decrypt, Sign and Verify working across owner resets, with no stale handle used', async () => {
    const b = await open({ poolSize: 2 });
    const key = await aesKey(b, 'epochs-e2e');
    const signing = { id: 'epochs-e2e-ec', keySpec: 'ECC_NIST_P256', ...(await b.generateKeyMaterial('ECC_NIST_P256')) } as MaterialRef & { publicKey: Buffer };
    const from = logLines().length;
    for (let round = 0; round < 3; round++) {
      const message = Buffer.from(`round ${round}`);
      const c = await b.encryptSymmetric(key, message, aad);
      const signature = await b.sign(signing, 'ECDSA_SHA_256', message, 'RAW');
      expect(await b.verify(signing, 'ECDSA_SHA_256', message, 'RAW', signature)).toBe(true);
      await loseOwner(b);
      expect((await b.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe(`round ${round}`);
      expect(await b.verify(signing, 'ECDSA_SHA_256', message, 'RAW', signature)).toBe(true);
    }
    expect(staleUses(logLines(), from)).toEqual([]);
  });
});
