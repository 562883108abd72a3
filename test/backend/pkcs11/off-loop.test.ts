/**
 * Under the `cloudhsm` profile no HSM call on the request path runs on the event loop: the
 * interposer records every call made on the process's main thread, and after start-up there must
 * be none — through every operation, an import, and a recovery from lost sessions.
 * (cloudhsm project only: it needs the interposer.)
 */
import { createPublicKey, publicEncrypt, constants, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { KeySpec } from '../../../src/core/model.js';
import { loopTurnsDuring } from '../../support/event-loop.js';
import { interposerControl } from '../../support/interposer.js';
import { openTestBackend } from './helpers.js';

const control = interposerControl();
let backend: Pkcs11Backend;
let n = 0;
const ref = (keySpec: KeySpec, m: { wrapped: Buffer; publicKey?: Buffer }) => ({ id: `off-loop-${n++}`, keySpec, wrapped: m.wrapped, publicKey: m.publicKey ?? Buffer.alloc(0) });

beforeAll(async () => {
  backend = await openTestBackend({ poolSize: 3 });
});
afterAll(async () => {
  await backend.close();
  control.dispose();
});

async function everyOperation(): Promise<void> {
  const aes = ref('SYMMETRIC_DEFAULT', await backend.generateKeyMaterial('SYMMETRIC_DEFAULT'));
  const c = await backend.encryptSymmetric(aes, Buffer.from('x'), Buffer.from('aad'));
  expect((await backend.decryptSymmetric(aes, c.iv, c.ciphertext, Buffer.from('aad'))).toString()).toBe('x');
  await expect(backend.decryptSymmetric(aes, c.iv, Buffer.concat([c.ciphertext.subarray(1), Buffer.from([0])]), Buffer.from('aad'))).rejects.toMatchObject({
    kind: 'data',
  });
  for (const spec of ['ECC_NIST_P256', 'ECC_NIST_P384', 'RSA_2048'] as const) {
    const key = ref(spec, await backend.generateKeyMaterial(spec));
    const algorithm = spec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : spec === 'ECC_NIST_P256' ? 'ECDSA_SHA_256' : 'ECDSA_SHA_384';
    const signature = await backend.sign(key, algorithm, Buffer.from('m'), 'RAW');
    expect(await backend.verify(key, algorithm, Buffer.from('m'), 'RAW', signature)).toBe(true);
  }
  const rsa = ref('RSA_2048', await backend.generateKeyMaterial('RSA_2048'));
  const oaep = publicEncrypt({ key: createPublicKey({ key: rsa.publicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('r'));
  expect((await backend.decryptAsymmetric(rsa, 'RSAES_OAEP_SHA_256', oaep)).toString()).toBe('r');
  const hmac = ref('HMAC_256', await backend.generateKeyMaterial('HMAC_256'));
  expect(await backend.generateMac(hmac, 'HMAC_SHA_256', Buffer.from('m'))).toHaveLength(32);
  expect(await backend.generateRandom(32)).toHaveLength(32);
  expect((await backend.unsealSecret(await backend.sealSecret(Buffer.from('s')))).toString()).toBe('s');
  const wrapping = await backend.createWrappingKeyPair('RSA_2048');
  const material = randomBytes(32);
  const encrypted = publicEncrypt({ key: createPublicKey({ key: wrapping.publicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  const imported = await backend.importKeyMaterial({ id: `off-loop-${n++}`, keySpec: 'RSA_2048', wrapped: wrapping.wrapped }, 'RSAES_OAEP_SHA_256', encrypted, 'SYMMETRIC_DEFAULT');
  await backend.encryptSymmetric(ref('SYMMETRIC_DEFAULT', imported), Buffer.from('y'), Buffer.alloc(0));
  expect(await backend.health()).toMatchObject({ ok: true });
}

describe('the cloudhsm profile', () => {
  it('has started and loaded every call thread by the time it is open (pool of 3: its sessions, the owner, probes)', () => {
    expect(backend.stats().callThreads).toBe(5);
  });

  it('makes no HSM call on the event loop, whatever the operation', async () => {
    const mainThreadCalls = control.logMainThreadCalls();
    await everyOperation();
    expect(mainThreadCalls()).toEqual([]);
  });

  it('recovers from lost sessions without an HSM call on the event loop', async () => {
    // The test itself closes the sessions, on the main thread, before logging starts.
    const m = backend.module;
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === process.env.HSMKMS_TEST_TOKEN)!;
    m.C_CloseAllSessions(slot);
    const drains = backend.stats().poolDrains;
    const mainThreadCalls = control.logMainThreadCalls();
    await everyOperation();
    expect(backend.stats().poolDrains).toBeGreaterThan(drains);
    expect(mainThreadCalls()).toEqual([]);
  });

  it('keeps the event loop turning while HSM calls are slow', async () => {
    control.set(['latency_us=20000']);
    const { turns } = await loopTurnsDuring(() => backend.generateRandom(16));
    // A 20 ms call with the loop free throughout.
    expect(turns).toBeGreaterThan(10);
    control.set([]);
  });
});

