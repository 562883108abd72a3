/**
 * The handle cache, session recovery, and what the token holds: run against the real token.
 */
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { KeySpec } from '../../../src/core/model.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { sessionObjects as thisProcessSessionObjects } from '../../support/session-objects.js';
import { closeAllSessions, openTestBackend, RecordingLogger } from './helpers.js';

let n = 0;
const ref = (keySpec: KeySpec, wrapped: Buffer, publicKey?: Buffer) => ({ id: `life-${n++}`, keySpec, wrapped, publicKey: publicKey ?? Buffer.alloc(0) });

/** Runs `fn` on a session of its own on the run's token (the application's other sessions' objects are visible to it). */
async function onTestToken<T>(backend: Pkcs11Backend, fn: (m: Pkcs11Backend['module'], s: pkcs11js.Handle) => T | Promise<T>): Promise<T> {
  const m = backend.module;
  const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === process.env.HSMKMS_TEST_TOKEN)!;
  const s = m.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    return await fn(m, s);
  } finally {
    m.C_CloseSession(s);
  }
}

/** Session objects this process holds in the token matching `template` (all of the application's sessions see them). */
function sessionObjects(backend: Pkcs11Backend, template: pkcs11js.Template = []): Promise<pkcs11js.Handle[]> {
  return onTestToken(backend, (m, s) => thisProcessSessionObjects(m, s, template));
}
const sessionObjectCount = async (backend: Pkcs11Backend) => (await sessionObjects(backend)).length;

describe('handle cache', () => {
  let backend: Pkcs11Backend;
  beforeAll(async () => {
    backend = await openTestBackend({ cacheSize: 4, poolSize: 3 });
  });
  afterAll(() => backend.close());

  it('keeps at most cacheSize unwrapped keys in the token and re-unwraps evicted ones', async () => {
    const before = await sessionObjectCount(backend);
    const keys: MaterialRef[] = [];
    for (let i = 0; i < 10; i++) keys.push(ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped));
    // Generating leaves nothing behind: the extractable copy was wrapped and destroyed.
    expect(await sessionObjectCount(backend)).toBe(before);
    const sealed = [];
    for (const k of keys) sealed.push(await backend.encryptSymmetric(k, Buffer.from(k.id), Buffer.alloc(0)));
    expect(backend.stats().cachedKeys).toBe(4);
    await new Promise((r) => setTimeout(r, 20)); // destruction of evicted objects is queued on the owner session
    expect((await sessionObjectCount(backend)) - before).toBe(4);
    // Evicted keys come back transparently, in any order.
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]!;
      const c = sealed[i]!;
      expect((await backend.decryptSymmetric(k, c.iv, c.ciphertext, Buffer.alloc(0))).toString()).toBe(k.id);
    }
    backend.forget(keys[0]!.id);
    expect(backend.stats().cachedKeys).toBe(3);
    await new Promise((r) => setTimeout(r, 20));
    expect((await sessionObjectCount(backend)) - before).toBe(3);
  });

  it('holds every unwrapped working copy as a sensitive, never-extractable session object', async () => {
    for (const spec of ['SYMMETRIC_DEFAULT', 'HMAC_384', 'ECC_NIST_P256', 'RSA_2048'] as const) {
      const m = await backend.generateKeyMaterial(spec);
      const key = ref(spec, m.wrapped, m.publicKey);
      if (spec === 'SYMMETRIC_DEFAULT') await backend.encryptSymmetric(key, Buffer.from('x'), Buffer.alloc(0));
      else if (spec === 'HMAC_384') await backend.generateMac(key, 'HMAC_SHA_384', Buffer.from('x'));
      else await backend.sign(key, spec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256', Buffer.from('x'), 'RAW');
    }
    const P = pkcs11js;
    await onTestToken(backend, async (m, s) => {
      const handles = await thisProcessSessionObjects(m, s);
      expect(handles.length).toBeGreaterThanOrEqual(4);
      for (const h of handles) {
        const [cls, sensitive, extractable, neverExtractable] = m.C_GetAttributeValue(s, h, [
          { type: P.CKA_CLASS },
          { type: P.CKA_SENSITIVE },
          { type: P.CKA_EXTRACTABLE },
          { type: P.CKA_NEVER_EXTRACTABLE },
        ]);
        expect([P.CKO_SECRET_KEY, P.CKO_PRIVATE_KEY]).toContain(cls!.value.readUInt32LE());
        expect(sensitive!.value[0]).toBe(1);
        expect(extractable!.value[0]).toBe(0);
        // Unwrapped objects were extractable once (in wrapped form), so PKCS#11 never calls them
        // never-extractable; that they cannot be extracted now is what counts.
        void neverExtractable;
        // And reading the value is refused.
        const [keyType] = m.C_GetAttributeValue(s, h, [{ type: P.CKA_KEY_TYPE }]);
        const secretPart = keyType!.value.readUInt32LE() === P.CKK_RSA ? P.CKA_PRIVATE_EXPONENT : P.CKA_VALUE;
        expect(() => m.C_GetAttributeValue(s, h, [{ type: secretPart }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      }
    });
  });

  it('never destroys a key an operation is still using, even when the cache thrashes', async () => {
    const keys: MaterialRef[] = [];
    for (let i = 0; i < 8; i++) keys.push(ref('HMAC_256', (await backend.generateKeyMaterial('HMAC_256')).wrapped));
    const macs = await Promise.all(Array.from({ length: 200 }, (_, i) => backend.generateMac(keys[i % 8]!, 'HMAC_SHA_256', Buffer.from('m'))));
    for (let i = 0; i < 200; i++) expect(macs[i]).toEqual(macs[i % 8]);
    expect(backend.stats().cachedKeys).toBeLessThanOrEqual(4);
  });
});

describe('session recovery', () => {
  let backend: Pkcs11Backend;
  const log = new RecordingLogger();
  beforeAll(async () => {
    backend = await openTestBackend({ poolSize: 4 }, log);
  });
  afterAll(() => backend.close());

  it('recovers from every session being closed under traffic, more than once', async () => {
    const aes = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
    const ecM = await backend.generateKeyMaterial('ECC_NIST_P256');
    const ec = ref('ECC_NIST_P256', ecM.wrapped, ecM.publicKey);
    const before = await backend.encryptSymmetric(aes, Buffer.from('before'), Buffer.from('a'));
    const sealedBefore = await backend.sealSecret(Buffer.from('s3cret'));

    // Kill every session three times while the 300 operations are in flight (pool of 4).
    let kills = 0;
    let done = 0;
    const progress = () => {
      done++;
      if (done === 30 || done === 120 || done === 240) {
        closeAllSessions(backend);
        kills++;
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: 300 }, async (_, i) => {
        try {
          if (i % 3 === 0) {
            const c = await backend.encryptSymmetric(aes, Buffer.from(`m${i}`), Buffer.alloc(0));
            return (await backend.decryptSymmetric(aes, c.iv, c.ciphertext, Buffer.alloc(0))).toString() === `m${i}`;
          }
          if (i % 3 === 1) {
            const sig = await backend.sign(ec, 'ECDSA_SHA_256', Buffer.from('x'), 'RAW');
            return backend.verify(ec, 'ECDSA_SHA_256', Buffer.from('x'), 'RAW', sig);
          }
          return (await backend.generateRandom(16)).length === 16;
        } finally {
          progress();
        }
      }),
    );
    expect(kills).toBe(3);
    // The failures really happened and were recovered from (not just avoided).
    expect(log.count('warn')).toBeGreaterThan(0);
    const failures = results.filter((r) => r.status === 'rejected');
    expect(failures.map((f) => String((f as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.every((r) => r.status === 'fulfilled' && r.value === true)).toBe(true);

    // Once more, with the backend idle, then check state made before the failures still works.
    closeAllSessions(backend);
    expect((await backend.decryptSymmetric(aes, before.iv, before.ciphertext, Buffer.from('a'))).toString()).toBe('before');
    expect((await backend.unsealSecret(sealedBefore)).toString()).toBe('s3cret');
    expect(await backend.health()).toMatchObject({ ok: true });
  });

  it('a data error keeps the session and triggers no recovery', async () => {
    const aes = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
    await backend.encryptSymmetric(aes, Buffer.from('warm'), Buffer.alloc(0));
    const warnings = log.count('warn');
    const idle = backend.stats().sessionsIdle;
    for (let i = 0; i < 20; i++)
      await expect(backend.decryptSymmetric(aes, randomBytes(12), randomBytes(40), Buffer.alloc(0))).rejects.toMatchObject({ kind: 'data' });
    expect(log.count('warn')).toBe(warnings);
    expect(backend.stats().sessionsIdle).toBe(idle);
  });

  it('a tampered blob from the store is a data error, not a device failure', async () => {
    const other = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
    await backend.encryptSymmetric(other, Buffer.from('warm'), Buffer.alloc(0));
    const cached = backend.stats().cachedKeys;
    const warnings = log.count('warn');
    const m = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const tampered = Buffer.from(m.wrapped);
    tampered[tampered.length - 1]! ^= 1;
    await expect(backend.encryptSymmetric(ref('SYMMETRIC_DEFAULT', tampered), Buffer.from('x'), Buffer.alloc(0))).rejects.toMatchObject({
      kind: 'data',
      code: 'CKR_WRAPPED_KEY_INVALID',
    });
    expect(log.count('warn')).toBe(warnings);
    expect(backend.stats().cachedKeys).toBe(cached);
  });

  it('makes a cached public key that vanished again, and a wrong signature still recovers nothing', async () => {
    const m = await backend.generateKeyMaterial('ECC_NIST_P384');
    const ec = ref('ECC_NIST_P384', m.wrapped, m.publicKey);
    const sig = await backend.sign(ec, 'ECDSA_SHA_384', Buffer.from('x'), 'RAW');
    expect(await backend.verify(ec, 'ECDSA_SHA_384', Buffer.from('x'), 'RAW', sig)).toBe(true);
    // Destroy the cached public key copy behind the backend's back (another session of this process sees it).
    const copies = await sessionObjects(backend, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }]);
    expect(copies.length).toBeGreaterThanOrEqual(1);
    await onTestToken(backend, (m, s) => copies.forEach((h) => m.C_DestroyObject(s, h)));
    const warnings = log.count('warn');
    // The stale handle is a lost handle (recovered from and retried), not the caller's fault.
    expect(await backend.verify(ec, 'ECDSA_SHA_384', Buffer.from('x'), 'RAW', sig)).toBe(true);
    expect(log.count('warn')).toBeGreaterThan(warnings);
    const made = backend.stats().tokenObjectsMade;
    const settled = log.count('warn');
    expect(await backend.verify(ec, 'ECDSA_SHA_384', Buffer.from('x'), 'RAW', sig)).toBe(true);
    expect(await backend.verify(ec, 'ECDSA_SHA_384', Buffer.from('y'), 'RAW', sig)).toBe(false);
    expect(backend.stats().tokenObjectsMade).toBe(made);
    expect(log.count('warn')).toBe(settled);
  });

  it('refuses work after close', async () => {
    const b = await openTestBackend();
    await b.close();
    await expect(b.generateRandom(8)).rejects.toMatchObject({ name: 'HsmError' });
  });
});
