/**
 * The backend counts the objects it makes in the token (`tokenObjectsMade`): SoftHSM2 keeps a
 * remnant of each one destroyed until the process exits, and `serve --recycle-worker-after`
 * replaces a worker on this count. These tests check that the request paths that make objects
 * (a cold key use, a cold Verify, DeriveSharedSecret, key generation) are counted exactly, and that
 * the ones that make none (a cached key's use, a cached key's Verify, GenerateRandom) are not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { openTestBackend } from './helpers.js';

let backend: Pkcs11Backend;
const made = () => backend.stats().tokenObjectsMade;
const ref = (keySpec: 'SYMMETRIC_DEFAULT' | 'ECC_NIST_P256', wrapped: Uint8Array, publicKey: Uint8Array = Buffer.alloc(0)) => ({
  id: `objects-${keySpec}-${Buffer.from(wrapped.subarray(-6)).toString('hex')}`,
  keySpec,
  wrapped,
  publicKey,
});

beforeAll(async () => {
  backend = await openTestBackend({ cacheSize: 2 });
});
afterAll(() => backend.close());

describe('objects made in the token', () => {
  it('counts one per cold key use and none for a cached key', async () => {
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped));
    const first = made();
    // Three keys through a cache of two: every use is cold.
    for (let round = 0; round < 2; round++) for (const key of keys) await backend.encryptSymmetric(key, Buffer.from('x'), Buffer.alloc(0));
    expect(made() - first).toBe(6);
    const hot = made();
    for (let i = 0; i < 5; i++) await backend.encryptSymmetric(keys[2]!, Buffer.from('x'), Buffer.alloc(0));
    await backend.generateRandom(32);
    expect(made()).toBe(hot);
  });

  it('counts the key made by CreateKey, the public key object of a cold Verify and the secret of each DeriveSharedSecret', async () => {
    const before = made();
    await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    expect(made() - before).toBe(1);
    const signing = await backend.generateKeyMaterial('ECC_NIST_P256');
    expect(made() - before).toBe(3); // a key pair
    const key = ref('ECC_NIST_P256', signing.wrapped, signing.publicKey);
    const signature = await backend.sign(key, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW');
    const afterSign = made(); // the cold use of `key`: one unwrap
    expect(afterSign - before).toBe(4);
    // The first Verify makes the public key object; the next ones reuse it.
    for (let i = 0; i < 3; i++) expect(await backend.verify(key, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW', signature)).toBe(true);
    expect(made() - afterSign).toBe(1);
    expect(await backend.verify(key, 'ECDSA_SHA_256', Buffer.from('other'), 'RAW', signature)).toBe(false);
    expect(made() - afterSign).toBe(1);
    const agreeing = await backend.generateKeyMaterial('ECC_NIST_P256', 'KEY_AGREEMENT');
    const agree = ref('ECC_NIST_P256', agreeing.wrapped, agreeing.publicKey);
    const peerSpki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    await backend.deriveSharedSecret(agree, peerSpki); // cold: unwrap + derive
    const warm = made();
    await backend.deriveSharedSecret(agree, peerSpki);
    expect(made() - warm).toBe(1);
  });

  it('makes no object for a cached Verify, one again once the public key was evicted or its material forgotten', async () => {
    const m = await backend.generateKeyMaterial('ECC_NIST_P256');
    const key = ref('ECC_NIST_P256', m.wrapped, m.publicKey);
    const signature = await backend.sign(key, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW');
    const verify = () => backend.verify(key, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW', signature);
    let start = made();
    expect(await verify()).toBe(true); // cold: the public key object
    expect(made() - start).toBe(1);
    start = made();
    for (let i = 0; i < 10; i++) expect(await verify()).toBe(true);
    expect(made()).toBe(start); // cached: nothing
    expect(backend.stats().cachedKeys).toBeLessThanOrEqual(2);

    // Two other keys through the cache of two evict the public key copy: the next Verify makes it again.
    for (let i = 0; i < 2; i++) {
      const aes = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
      await backend.encryptSymmetric(aes, Buffer.from('x'), Buffer.alloc(0));
    }
    start = made();
    expect(await verify()).toBe(true);
    expect(made() - start).toBe(1);
    start = made();
    expect(await verify()).toBe(true);
    expect(made()).toBe(start);

    // Forgetting the material (its key version deleted) drops the public key copy too.
    backend.forget(key.id);
    start = made();
    expect(await verify()).toBe(true);
    expect(made() - start).toBe(1);

    // Another public key under the same material id never reuses the cached object.
    const other = await backend.generateKeyMaterial('ECC_NIST_P256');
    const impostor = { ...key, publicKey: other.publicKey! };
    start = made();
    expect(await backend.verify(impostor, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW', signature)).toBe(false);
    expect(made() - start).toBe(1);
    expect(await verify()).toBe(true);
  });
});
