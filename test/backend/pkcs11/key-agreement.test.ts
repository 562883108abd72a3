/**
 * KEY_AGREEMENT material in the token: ECDH (CKM_ECDH1_DERIVE, CKD_NULL) gives node:crypto's
 * shared secret, the working copy of the private key can derive and never sign (and a signing
 * key never derives), and no derived secret object outlives the call, success or failure.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { BackendError } from '../../../src/core/errors.js';
import type { KeySpec } from '../../../src/core/model.js';
import { genericSecretSessionObjects, openTestBackend } from './helpers.js';

let backend: Pkcs11Backend;
let n = 0;

beforeAll(async () => {
  backend = await openTestBackend();
});
afterAll(() => backend?.close());

async function material(spec: KeySpec, usage: 'KEY_AGREEMENT' | 'SIGN_VERIFY') {
  const m = await backend.generateKeyMaterial(spec, usage);
  return { id: `agree-${process.pid}-${n++}`, keySpec: spec, wrapped: m.wrapped, publicKey: m.publicKey! };
}

describe('ECDH with KEY_AGREEMENT material', () => {
  it.each([
    ['ECC_NIST_P256', 'prime256v1', 32],
    ['ECC_NIST_P384', 'secp384r1', 48],
    ['ECC_NIST_P521', 'secp521r1', 66],
  ] as const)('%s: the token derives the secret node:crypto computes from the other side', async (spec, curve, bytes) => {
    const key = await material(spec, 'KEY_AGREEMENT');
    const peer = generateKeyPairSync('ec', { namedCurve: curve });
    const secret = await backend.deriveSharedSecret(key, peer.publicKey.export({ format: 'der', type: 'spki' }));
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }) });
    expect(secret).toHaveLength(bytes);
    expect(secret.equals(expected)).toBe(true);
    expect(await genericSecretSessionObjects(backend)).toBe(0);
  });

  it('a key agreement key cannot sign, a signing key cannot derive, and failures leave no secret object', async () => {
    const agree = await material('ECC_NIST_P256', 'KEY_AGREEMENT');
    const signing = await material('ECC_NIST_P256', 'SIGN_VERIFY');
    const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    await expect(backend.sign(agree, 'ECDSA_SHA_256', Buffer.from('m'), 'RAW')).rejects.toMatchObject({ code: 'CKR_KEY_FUNCTION_NOT_PERMITTED' });
    await expect(backend.deriveSharedSecret(signing, peer)).rejects.toMatchObject({ code: 'CKR_KEY_FUNCTION_NOT_PERMITTED' });
    // Another curve, not a key at all, or the point at infinity (which aborted the process): bad input, refused before the token.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'der', type: 'spki' });
    const infinity = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');
    for (const bad of [p384, Buffer.from('not a key'), infinity]) {
      const error = await backend.deriveSharedSecret(agree, bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect((error as BackendError).kind).toBe('data');
    }
    expect(await genericSecretSessionObjects(backend)).toBe(0);
  });

  it('only EC material can be key agreement material', async () => {
    await expect(backend.generateKeyMaterial('RSA_2048', 'KEY_AGREEMENT')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.generateKeyMaterial('SYMMETRIC_DEFAULT', 'KEY_AGREEMENT')).rejects.toMatchObject({ kind: 'data' });
  });
});
