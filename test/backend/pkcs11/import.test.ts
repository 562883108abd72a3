import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
  verify as cryptoVerify,
} from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { KeySpec, WrappingAlgorithm, WrappingKeySpec } from '../../../src/core/model.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { openTestBackend } from './helpers.js';

let backend: Pkcs11Backend;
let n = 0;

beforeAll(async () => {
  backend = await openTestBackend();
});
afterAll(async () => {
  await backend.close();
});

async function wrappingKey(spec: WrappingKeySpec = 'RSA_2048'): Promise<{ ref: MaterialRef; publicKey: Buffer }> {
  const m = await backend.createWrappingKeyPair(spec);
  return { ref: { id: `import-wrap-${n++}`, keySpec: spec, wrapped: m.wrapped }, publicKey: m.publicKey };
}

function oaep(publicKey: Buffer, alg: WrappingAlgorithm, data: Buffer): Buffer {
  return publicEncrypt(
    { key: createPublicKey({ key: publicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg.endsWith('SHA_1') ? 'sha1' : 'sha256' },
    data,
  );
}

/** What AWS's RSA_AES_KEY_WRAP does: OAEP(ephemeral AES-256) ‖ AES-KWP(material). */
function rsaAesWrap(publicKey: Buffer, alg: WrappingAlgorithm, material: Buffer): Buffer {
  const ephemeral = randomBytes(32);
  const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('a65959a6', 'hex'));
  return Buffer.concat([oaep(publicKey, alg, ephemeral), kwp.update(material), kwp.final()]);
}

const ref = (keySpec: KeySpec, wrapped: Buffer, publicKey?: Buffer) => ({ id: `import-${n++}`, keySpec, wrapped, publicKey: publicKey ?? Buffer.alloc(0) });

describe('importKeyMaterial', () => {
  for (const alg of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'] as const) {
    it(`${alg}: imported AES-256 material is the customer's key`, async () => {
      const w = await wrappingKey();
      const material = randomBytes(32);
      const encrypted = alg.startsWith('RSAES') ? oaep(w.publicKey, alg, material) : rsaAesWrap(w.publicKey, alg, material);
      const imported = await backend.importKeyMaterial(w.ref, alg, encrypted, 'SYMMETRIC_DEFAULT');
      expect(imported.wrapped.includes(material)).toBe(false);
      const key = ref('SYMMETRIC_DEFAULT', imported.wrapped);
      const aad = Buffer.from('aad');
      const { iv, ciphertext } = await backend.encryptSymmetric(key, Buffer.from('secret'), aad);
      // Decrypting with the customer's copy proves the token holds exactly that key.
      const d = createDecipheriv('aes-256-gcm', material, iv);
      d.setAAD(aad);
      d.setAuthTag(ciphertext.subarray(-16));
      expect(Buffer.concat([d.update(ciphertext.subarray(0, -16)), d.final()]).toString()).toBe('secret');
    });
  }

  it('imports HMAC keys longer than the digest', async () => {
    const w = await wrappingKey();
    const material = randomBytes(40);
    const imported = await backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_256', oaep(w.publicKey, 'RSAES_OAEP_SHA_256', material), 'HMAC_256');
    const mac = await backend.generateMac(ref('HMAC_256', imported.wrapped), 'HMAC_SHA_256', Buffer.from('m'));
    expect(mac).toEqual(createHmac('sha256', material).update('m').digest());
  });

  for (const [spec, gen] of [
    ['RSA_2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['ECC_NIST_P256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' })],
    ['ECC_NIST_P384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' })],
    ['ECC_SECG_P256K1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' })],
  ] as const) {
    it(`imports a ${spec} private key (PKCS#8) with RSA_AES_KEY_WRAP_SHA_256 and recovers its public key`, async () => {
      const w = await wrappingKey('RSA_3072');
      const pair = gen();
      const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
      const imported = await backend.importKeyMaterial(w.ref, 'RSA_AES_KEY_WRAP_SHA_256', rsaAesWrap(w.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', pkcs8), spec);
      const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
      expect(imported.publicKey).toEqual(spki);
      const alg = spec === 'RSA_2048' ? 'RSASSA_PKCS1_V1_5_SHA_256' : spec === 'ECC_NIST_P384' ? 'ECDSA_SHA_384' : 'ECDSA_SHA_256';
      const sig = await backend.sign(ref(spec, imported.wrapped), alg, Buffer.from('msg'), 'RAW');
      expect(cryptoVerify(spec === 'ECC_NIST_P384' ? 'sha384' : 'sha256', Buffer.from('msg'), pair.publicKey, sig)).toBe(true);
    });
  }

  it('rejects material wrapped for another wrapping key, truncated, of the wrong size or the wrong type', async () => {
    const w = await wrappingKey();
    const other = await wrappingKey();
    const material = randomBytes(32);
    const forOther = oaep(other.publicKey, 'RSAES_OAEP_SHA_256', material);
    await expect(backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_256', forOther, 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_1', oaep(other.publicKey, 'RSAES_OAEP_SHA_1', material), 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_256', oaep(w.publicKey, 'RSAES_OAEP_SHA_1', material), 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_256', oaep(w.publicKey, 'RSAES_OAEP_SHA_256', randomBytes(16)), 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    // Past the modulus: a raw RSA step (SoftHSM2 has no OAEP with SHA-256) answers CKR_GENERAL_ERROR.
    for (const algorithm of ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1'] as const)
      await expect(backend.importKeyMaterial(w.ref, algorithm, Buffer.alloc(256, 0xff), 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.importKeyMaterial(w.ref, 'RSA_AES_KEY_WRAP_SHA_256', rsaAesWrap(w.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', material).subarray(0, 260), 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    const tampered = rsaAesWrap(w.publicKey, 'RSA_AES_KEY_WRAP_SHA_1', material);
    tampered[tampered.length - 1]! ^= 1;
    await expect(backend.importKeyMaterial(w.ref, 'RSA_AES_KEY_WRAP_SHA_1', tampered, 'SYMMETRIC_DEFAULT')).rejects.toMatchObject({ kind: 'data' });
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'der' });
    await expect(backend.importKeyMaterial(w.ref, 'RSA_AES_KEY_WRAP_SHA_256', rsaAesWrap(w.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', ec), 'ECC_NIST_P384')).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.importKeyMaterial(w.ref, 'RSA_AES_KEY_WRAP_SHA_256', rsaAesWrap(w.publicKey, 'RSA_AES_KEY_WRAP_SHA_256', ec), 'RSA_2048')).rejects.toMatchObject({ kind: 'data' });
    // The backend is still healthy after all that.
    const good = await backend.importKeyMaterial(w.ref, 'RSAES_OAEP_SHA_256', oaep(w.publicKey, 'RSAES_OAEP_SHA_256', material), 'SYMMETRIC_DEFAULT');
    expect(good.wrapped.length).toBeGreaterThan(40);
  });
});
