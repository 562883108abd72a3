/**
 * The epoch guard itself (handle-cache.ts, hsm-calls.ts), under whichever profile the project
 * runs: a handle cached before the owner session was replaced, or before a lost login was
 * renewed, is refused with StaleHandleError before anything reaches the token — whether it is an
 * unwrapped key from the handle cache or a token key (the domain key) looked up before. The
 * interposer's object log shows the same for calls waiting on worker threads (handle-epochs.test.ts).
 */
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { gcmMechanism } from '../../../src/backend/pkcs11/aes-gcm.js';
import type { HandleCache } from '../../../src/backend/pkcs11/handle-cache.js';
import type { TokenKeySet } from '../../../src/backend/pkcs11/token-keys.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { openTestBackend } from './helpers.js';

const P = pkcs11js;
const aad = Buffer.from('ctx');
let b: Pkcs11Backend;
let key: MaterialRef;

beforeAll(async () => {
  b = await openTestBackend({ poolSize: 2 });
  key = { id: 'stale-handles-aes', keySpec: 'SYMMETRIC_DEFAULT', wrapped: (await b.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped };
});
afterAll(async () => {
  await b?.close();
});

const internals = () => b as unknown as { owner: Handle; cache: HandleCache; domain: TokenKeySet; slot: Handle };

/** The handle the cache holds for `key` now (warmed by an Encrypt). */
async function cachedHandle(): Promise<Handle> {
  await b.encryptSymmetric(key, Buffer.from('warm'), aad);
  const lease = internals().cache.tryLease(key.id)!;
  lease.release();
  return lease.handle;
}

/** A session of the test's own, for calls made with the backend's HsmCalls. */
function withSession<T>(fn: (s: Handle) => Promise<T>): Promise<T> {
  const s = b.module.C_OpenSession(internals().slot, P.CKF_SERIAL_SESSION);
  return fn(s).finally(() => b.module.C_CloseSession(s));
}

const encryptWith = (s: Handle, handle: Handle) =>
  Promise.resolve().then(() =>
    b.calls.initAndRun(
      'aes',
      ['C_EncryptInit', s, gcmMechanism(Buffer.alloc(12), aad), handle],
      ['C_Encrypt', s, Buffer.from('x'), Buffer.alloc(17)],
    ),
  );

describe('a cached handle of an ended epoch', () => {
  it('is refused, nothing sent, after the owner session was replaced; the key works again at once', async () => {
    const old = await cachedHandle();
    b.module.C_CloseSession(internals().owner);
    expect(await b.health()).toMatchObject({ ok: true }); // a new owner session
    await withSession(async (s) => {
      await expect(encryptWith(s, old)).rejects.toMatchObject({ name: 'StaleHandleError', code: 'ERR_STALE_HANDLE' });
    });
    const c = await b.encryptSymmetric(key, Buffer.from('after'), aad);
    expect((await b.decryptSymmetric(key, c.iv, c.ciphertext, aad)).toString()).toBe('after');
  });

  it('is refused after a lost login was renewed, for unwrapped keys and token keys alike', async () => {
    const old = await cachedHandle();
    const domain = internals().domain;
    const m = b.module;
    const s = m.C_OpenSession(internals().slot, P.CKF_SERIAL_SESSION);
    m.C_Logout(s);
    m.C_CloseSession(s);
    expect(await b.health()).toMatchObject({ ok: true }); // logged in again
    expect(domain.stale).toBe(true);
    await withSession(async (session) => {
      await expect(encryptWith(session, old)).rejects.toMatchObject({ code: 'ERR_STALE_HANDLE' });
      await expect(Promise.resolve().then(() => b.calls.call('C_GetAttributeValue', session, domain.current().handle, [{ type: P.CKA_ID }]))).rejects.toMatchObject({
        code: 'ERR_STALE_HANDLE',
      });
    });
    // New material is wrapped under the domain key looked up again, and works.
    const fresh = { id: 'stale-handles-fresh', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: (await b.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped };
    const c = await b.encryptSymmetric(fresh, Buffer.from('fresh'), aad);
    expect((await b.decryptSymmetric(fresh, c.iv, c.ciphertext, aad)).toString()).toBe('fresh');
  });
});
