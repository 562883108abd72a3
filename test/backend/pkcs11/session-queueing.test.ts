/**
 * Under the `cloudhsm` profile an Encrypt or Decrypt may queue behind another on a busy session
 * (SessionPool.useForOneJob): its job waits on the same worker thread and starts the moment the
 * one before returns. These tests hold the pool to one session so that every concurrent call
 * queues, and check that queueing never changes an answer, that a job queued behind a failure is
 * skipped (never run on a session mid-operation) and succeeds elsewhere, and that one queued behind
 * a hung call does not wait for it. (cloudhsm project only: it needs the interposer.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handle } from 'pkcs11js';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { SessionPool } from '../../../src/backend/pkcs11/session-pool.js';
import { interposerControl } from '../../support/interposer.js';
import { openTestBackend } from './helpers.js';

const control = interposerControl();
const CALL_TIMEOUT_MS = 1500;
let backend: Pkcs11Backend;
let key: { id: string; keySpec: 'SYMMETRIC_DEFAULT'; wrapped: Buffer; publicKey: Buffer };

beforeAll(async () => {
  backend = await openTestBackend({ poolSize: 1, callTimeoutMs: CALL_TIMEOUT_MS });
  const material = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
  key = { id: 'queueing-aes', keySpec: 'SYMMETRIC_DEFAULT', wrapped: material.wrapped, publicKey: Buffer.alloc(0) };
  await backend.encryptSymmetric(key, Buffer.from('warm'), Buffer.alloc(0)); // the key's handle is cached from now on
});
afterAll(async () => {
  control.set([]);
  await backend.close();
  control.dispose();
});

const aad = Buffer.from('ctx');
const roundTrip = async (text: string) => {
  const c = await backend.encryptSymmetric(key, Buffer.from(text), aad);
  return (await backend.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString();
};
const texts = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

describe('queueing behind a busy session', () => {
  it('gives every caller its own answer', async () => {
    control.set(['latency_us=3000', 'cloudhsm=1']);
    const queued = backend.stats().jobsQueuedOnBusySessions;
    expect(await Promise.all(texts(12, 'q').map(roundTrip))).toEqual(texts(12, 'q'));
    expect(backend.stats().jobsQueuedOnBusySessions).toBeGreaterThan(queued);
    expect(backend.stats()).toMatchObject({ sessionsInUse: 0, sessionsIdle: 1 });
    control.set([]);
  });

  it('skips a job queued behind a failed one, and runs it on a sound session', async () => {
    control.set(['latency_us=3000', 'cloudhsm=1', 'fault=C_Encrypt CKR_DEVICE_ERROR count=1']);
    const skipped = backend.stats().jobsSkipped;
    const drains = backend.stats().poolDrains;
    // The first Encrypt fails on the HSM (and is retried after its session was judged); the one
    // queued behind it must not run on that session, which its C_EncryptInit left mid-operation.
    const results = await Promise.all(texts(2, 'f').map((t) => backend.encryptSymmetric(key, Buffer.from(t), aad)));
    expect(backend.stats().jobsSkipped).toBeGreaterThan(skipped);
    for (const [i, c] of results.entries()) expect((await backend.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe(`f-${i}`);
    expect(backend.stats().poolDrains).toBe(drains); // one session replaced, nothing drained
    control.set([]);
  });

  it('skips jobs queued behind a Decrypt of bad input without recovering anything', async () => {
    control.set(['latency_us=3000', 'cloudhsm=1']);
    const c = await backend.encryptSymmetric(key, Buffer.from('kept'), aad);
    const tampered = Buffer.from(c.ciphertext);
    tampered[0]! ^= 1;
    const drains = backend.stats().poolDrains;
    const skipped = backend.stats().jobsSkipped;
    const [bad, ...good] = await Promise.allSettled([
      backend.decryptSymmetric(key, c.iv, tampered, aad),
      ...Array.from({ length: 3 }, () => backend.decryptSymmetric(key, c.iv, c.ciphertext, aad)),
    ]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { kind: 'data' } });
    for (const g of good) expect(g).toMatchObject({ status: 'fulfilled' });
    expect(good.map((g) => (g as PromiseFulfilledResult<Buffer>).value.toString())).toEqual(['kept', 'kept', 'kept']);
    expect(backend.stats().jobsSkipped).toBeGreaterThan(skipped); // the one behind the bad input went elsewhere
    expect(backend.stats().poolDrains).toBe(drains);
    control.set([]);
  });

  it('does not leave a job waiting behind a hung call', async () => {
    control.set(['cloudhsm=1', 'hang=C_Encrypt count=1']); // the next C_Encrypt blocks until the control file changes
    const hung = backend.encryptSymmetric(key, Buffer.from('hung'), aad).then(
      () => undefined,
      (e: Error) => e,
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    // Queued behind the hung call on the one session: when that call is given up, this one is
    // taken off it and served by a new session, well before its own deadline would pass.
    const behind = backend.encryptSymmetric(key, Buffer.from('behind'), aad);
    const c = await behind;
    expect(Date.now() - started).toBeLessThan(2 * CALL_TIMEOUT_MS);
    expect((await backend.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe('behind');
    expect(await hung).toMatchObject({ code: 'ERR_HSM_TIMEOUT' });
    control.set([]); // released: the hung call returns and its session is closed
    for (let i = 0; i < 50 && backend.stats().sessionsAbandoned > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(backend.stats().sessionsAbandoned).toBe(0);
    expect(await roundTrip('after')).toBe('after');
  });

  /**
   * The pool itself, with one-job operations of our own (random bytes): the first holder makes its
   * job `lateMs` after it got the session (as when it unwraps a cold key first); a joiner's job,
   * made at once, runs first and hangs (`hang`), and is given up. Returns the first holder's
   * answer (or error) and the joiner's error.
   */
  async function firstHolderLate(hang: string, lateMs: number): Promise<{ first: Buffer | Error; joiner: Error | undefined }> {
    const pool = (backend as unknown as { pool: SessionPool }).pool;
    const random = (s: Handle) => backend.calls.call('C_GenerateRandom', s, Buffer.alloc(8));
    control.set(['cloudhsm=1', hang]);
    try {
      const first = pool
        .useForOneJob(async (s) => {
          await new Promise((r) => setTimeout(r, lateMs));
          return random(s);
        })
        .then(
          (b) => b,
          (e: Error) => e,
        );
      await new Promise((r) => setTimeout(r, 20));
      const joiner = await pool.useForOneJob(random).then(
        () => undefined,
        (e: Error) => e,
      );
      return { first: await first, joiner };
    } finally {
      control.set([]);
    }
  }

  it('skips the first holder’s job made after the joiner’s hung call was given up, and runs it on another session', async () => {
    const { first, joiner } = await firstHolderLate('hang=C_GenerateRandom count=1', CALL_TIMEOUT_MS + 400);
    expect(joiner).toMatchObject({ code: 'ERR_HSM_TIMEOUT' });
    // Made after its session was set aside: skipped there (not left behind the hung call until its
    // own deadline), and run on a new session.
    expect(first).not.toBeInstanceOf(Error);
    expect(first).toHaveLength(8);
    for (let i = 0; i < 50 && backend.stats().sessionsAbandoned > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(backend.stats()).toMatchObject({ sessionsAbandoned: 0, sessionsInUse: 0 });
  });

  it('skips a holder’s job made after its session was given up and closed, without recovering anything', async () => {
    const drains = backend.stats().poolDrains;
    // The joiner's call answers 300 ms after it was given up, and its session is closed then; the
    // first holder makes its job later still.
    const { first, joiner } = await firstHolderLate(`hang=C_GenerateRandom ms=${CALL_TIMEOUT_MS + 300} count=1`, CALL_TIMEOUT_MS + 900);
    expect(joiner).toMatchObject({ code: 'ERR_HSM_TIMEOUT' });
    expect(first).not.toBeInstanceOf(Error);
    expect(first).toHaveLength(8);
    // Not run on the closed handle: that failure would have been judged a lost session, and the pool drained.
    expect(backend.stats()).toMatchObject({ poolDrains: drains, sessionsAbandoned: 0, sessionsInUse: 0 });
  });

  it('keeps a pooled session when the call that hung was on another session (a cold key unwrapped on the owner session)', async () => {
    const cold = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const coldKey = { id: 'queueing-cold-hung-unwrap', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: cold.wrapped, publicKey: Buffer.alloc(0) };
    control.set(['cloudhsm=1', 'hang=C_UnwrapKey count=1']); // the unwrap blocks until the control file changes
    try {
      // Two callers share the one unwrap (the key cache's lease); both fail with the timeout …
      const failures = await Promise.all(
        ['a', 'b'].map((t) =>
          backend.encryptSymmetric(coldKey, Buffer.from(t), aad).then(
            () => undefined,
            (e: Error) => e,
          ),
        ),
      );
      for (const f of failures) expect(f).toMatchObject({ code: 'ERR_HSM_TIMEOUT' });
      // … but the pooled session they held never waited for anything: it is back in the pool, not
      // set aside until the owner session's hung call returns (which may be never).
      expect(backend.stats()).toMatchObject({ sessionsAbandoned: 0, sessionsInUse: 0, sessionsIdle: 1 });
      expect(await roundTrip('meanwhile')).toBe('meanwhile');
    } finally {
      control.set([]);
    }
    const c = await backend.encryptSymmetric(coldKey, Buffer.from('later'), aad);
    expect((await backend.decryptSymmetric(coldKey, c.iv, c.ciphertext, aad)).toString()).toBe('later');
  });

  it('does not post a job behind a hung call that was given up before the job was made', async () => {
    // A cold key: the caller that queues behind the hung call first unwraps it on the owner
    // session (one call of LATENCY), so its own job reaches the session only after the hung call
    // was given up (and the jobs then pending cancelled). It must not wait behind it anyway.
    const cold = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const coldKey = { id: 'queueing-cold', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: cold.wrapped, publicKey: Buffer.alloc(0) };
    const LATENCY_MS = 600;
    control.set([`latency_us=${LATENCY_MS * 1000}`, 'cloudhsm=1', 'hang=C_Encrypt count=1']);
    const hung = backend.encryptSymmetric(key, Buffer.from('hung'), aad).then(
      () => undefined,
      (e: Error) => e,
    );
    // Joins the hung call's session before it is given up (at CALL_TIMEOUT_MS); makes its job after.
    await new Promise((r) => setTimeout(r, CALL_TIMEOUT_MS - 300));
    const behind = backend.encryptSymmetric(coldKey, Buffer.from('behind'), aad).then(
      (c) => c,
      (e: Error) => e,
    );
    const c = await behind;
    expect(c).not.toBeInstanceOf(Error); // without the fence it waited behind the hung call and timed out
    expect(await hung).toMatchObject({ code: 'ERR_HSM_TIMEOUT' });
    control.set([]);
    const { iv, ciphertext } = c as { iv: Buffer; ciphertext: Buffer };
    expect((await backend.decryptSymmetric(coldKey, iv, ciphertext, aad)).toString()).toBe('behind');
    for (let i = 0; i < 50 && backend.stats().sessionsAbandoned > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(backend.stats().sessionsAbandoned).toBe(0);
    expect(await roundTrip('after')).toBe('after');
  });
});
