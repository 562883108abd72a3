import { createPublicKey, createVerify, verify as cryptoVerify, constants, publicEncrypt, createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { HsmError } from '../../../src/backend/pkcs11/errors.js';
import type { KeySpec, SigningAlgorithm } from '../../../src/core/model.js';
import type { MaterialRef } from '../../../src/core/ports.js';
import { openTestBackend } from './helpers.js';

let backend: Pkcs11Backend;
let n = 0;
const ref = (keySpec: KeySpec, wrapped: Buffer, publicKey?: Buffer): MaterialRef & { publicKey: Uint8Array } => ({
  id: `ops-${n++}`,
  keySpec,
  wrapped,
  publicKey: publicKey ?? Buffer.alloc(0),
});

beforeAll(async () => {
  backend = await openTestBackend();
});
afterAll(async () => {
  await backend.close();
});

describe('AES-256-GCM', () => {
  it('encrypts and decrypts with AAD; a changed AAD, IV or tag is a data error', async () => {
    const m = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    expect(m.publicKey).toBeUndefined();
    const key = ref('SYMMETRIC_DEFAULT', m.wrapped);
    const pt = Buffer.from('attack at dawn');
    const aad = Buffer.from('context');
    const { iv, ciphertext } = await backend.encryptSymmetric(key, pt, aad);
    expect(iv).toHaveLength(12);
    expect(ciphertext).toHaveLength(pt.length + 16);
    expect(await backend.decryptSymmetric(key, iv, ciphertext, aad)).toEqual(pt);
    const bad = Buffer.from(ciphertext);
    bad[bad.length - 1]! ^= 1;
    await expect(backend.decryptSymmetric(key, iv, bad, aad)).rejects.toMatchObject({ name: 'HsmError', kind: 'data' });
    await expect(backend.decryptSymmetric(key, iv, ciphertext, Buffer.from('other'))).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.decryptSymmetric(key, Buffer.alloc(12), ciphertext, aad)).rejects.toMatchObject({ kind: 'data' });
    // The key still works after data errors (the session was kept, not broken).
    expect(await backend.decryptSymmetric(key, iv, ciphertext, aad)).toEqual(pt);
  });

  it('uses a fresh IV each time and another key cannot decrypt', async () => {
    const a = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
    const b = ref('SYMMETRIC_DEFAULT', (await backend.generateKeyMaterial('SYMMETRIC_DEFAULT')).wrapped);
    const one = await backend.encryptSymmetric(a, Buffer.from('x'), Buffer.alloc(0));
    const two = await backend.encryptSymmetric(a, Buffer.from('x'), Buffer.alloc(0));
    expect(one.iv.equals(two.iv)).toBe(false);
    await expect(backend.decryptSymmetric(b, one.iv, one.ciphertext, Buffer.alloc(0))).rejects.toBeInstanceOf(HsmError);
  });
});

const RSA_SIGNING: SigningAlgorithm[] = [
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
];

function nodeVerify(alg: SigningAlgorithm, spki: Buffer, message: Buffer, signature: Buffer): boolean {
  const hash = `sha${alg.slice(-3)}`;
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  if (alg.startsWith('RSASSA_PSS'))
    return cryptoVerify(hash, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  if (alg.startsWith('RSASSA_PKCS1')) return cryptoVerify(hash, message, key, signature);
  return cryptoVerify(hash, message, { key, dsaEncoding: 'der' }, signature);
}

describe('RSA', () => {
  for (const spec of ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const) {
    it(`${spec}: public key, every signature scheme RAW and DIGEST, OAEP decrypt`, async () => {
      const m = await backend.generateKeyMaterial(spec);
      const spki = m.publicKey!;
      const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
      expect(pub.asymmetricKeyDetails?.modulusLength).toBe(Number(spec.slice(4)));
      const key = ref(spec, m.wrapped, spki);
      const message = Buffer.from('message to sign');
      for (const alg of spec === 'RSA_2048' ? RSA_SIGNING : RSA_SIGNING.slice(0, 1).concat('RSASSA_PSS_SHA_512')) {
        const raw = await backend.sign(key, alg, message, 'RAW');
        expect(raw).toHaveLength(Number(spec.slice(4)) / 8);
        expect(nodeVerify(alg, spki, message, raw)).toBe(true);
        const digest = createHash(`sha${alg.slice(-3)}`).update(message).digest();
        const fromDigest = await backend.sign(key, alg, digest, 'DIGEST');
        expect(nodeVerify(alg, spki, message, fromDigest)).toBe(true);
        expect(await backend.verify(key, alg, message, 'RAW', raw)).toBe(true);
        expect(await backend.verify(key, alg, digest, 'DIGEST', raw)).toBe(true);
        expect(await backend.verify(key, alg, Buffer.from('other'), 'RAW', raw)).toBe(false);
      }
      for (const alg of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const) {
        const pt = randomBytes(32);
        const ours = await backend.encryptAsymmetric(key, alg, pt);
        expect(await backend.decryptAsymmetric(key, alg, ours)).toEqual(pt);
        const theirs = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' }, pt);
        expect(await backend.decryptAsymmetric(key, alg, theirs)).toEqual(pt);
      }
      const wrongHash = await backend.encryptAsymmetric(key, 'RSAES_OAEP_SHA_1', Buffer.from('x'));
      await expect(backend.decryptAsymmetric(key, 'RSAES_OAEP_SHA_256', wrongHash)).rejects.toMatchObject({ kind: 'data' });
    });
  }

  it('rejects a digest of the wrong length', async () => {
    const m = await backend.generateKeyMaterial('RSA_2048');
    await expect(backend.sign(ref('RSA_2048', m.wrapped), 'RSASSA_PSS_SHA_256', Buffer.alloc(20), 'DIGEST')).rejects.toMatchObject({ kind: 'data' });
  });
});

describe('ECDSA', () => {
  const cases = [
    ['ECC_NIST_P256', 'ECDSA_SHA_256', 'prime256v1'],
    ['ECC_NIST_P384', 'ECDSA_SHA_384', 'secp384r1'],
    ['ECC_NIST_P521', 'ECDSA_SHA_512', 'secp521r1'],
    ['ECC_SECG_P256K1', 'ECDSA_SHA_256', 'secp256k1'],
  ] as const;
  for (const [spec, alg, curve] of cases) {
    it(`${spec}: DER signatures that node:crypto verifies, RAW and DIGEST`, async () => {
      const m = await backend.generateKeyMaterial(spec);
      const pub = createPublicKey({ key: m.publicKey!, format: 'der', type: 'spki' });
      expect(pub.asymmetricKeyDetails?.namedCurve).toBe(curve);
      const key = ref(spec, m.wrapped, m.publicKey);
      const message = Buffer.from('hello ecdsa');
      const sig = await backend.sign(key, alg, message, 'RAW');
      expect(sig[0]).toBe(0x30);
      expect(nodeVerify(alg, m.publicKey!, message, sig)).toBe(true);
      const digest = createHash(`sha${alg.slice(-3)}`).update(message).digest();
      const sig2 = await backend.sign(key, alg, digest, 'DIGEST');
      expect(nodeVerify(alg, m.publicKey!, message, sig2)).toBe(true);
      expect(await backend.verify(key, alg, message, 'RAW', sig)).toBe(true);
      expect(await backend.verify(key, alg, digest, 'DIGEST', sig2)).toBe(true);
      expect(await backend.verify(key, alg, Buffer.from('tampered'), 'RAW', sig)).toBe(false);
      expect(await backend.verify(key, alg, message, 'RAW', Buffer.from('not der'))).toBe(false);
    });
  }
});

describe('HMAC', () => {
  for (const [spec, alg, len] of [
    ['HMAC_224', 'HMAC_SHA_224', 28],
    ['HMAC_256', 'HMAC_SHA_256', 32],
    ['HMAC_384', 'HMAC_SHA_384', 48],
    ['HMAC_512', 'HMAC_SHA_512', 64],
  ] as const) {
    it(`${spec}: deterministic MACs of the right length`, async () => {
      const key = ref(spec, (await backend.generateKeyMaterial(spec)).wrapped);
      const mac = await backend.generateMac(key, alg, Buffer.from('data'));
      expect(mac).toHaveLength(len);
      expect(await backend.generateMac(key, alg, Buffer.from('data'))).toEqual(mac);
      expect(await backend.generateMac(key, alg, Buffer.from('datb'))).not.toEqual(mac);
    });
  }
});

describe('the rest', () => {
  it('generates random bytes', async () => {
    const a = await backend.generateRandom(32);
    expect(a).toHaveLength(32);
    expect(a.equals(await backend.generateRandom(32))).toBe(false);
  });

  it('generates data key pairs whose halves match', async () => {
    for (const spec of ['RSA_2048', 'ECC_NIST_P256', 'ECC_SECG_P256K1'] as const) {
      const pair = await backend.generateDataKeyPair(spec);
      const signer = createVerify('sha256');
      void signer;
      const sig = (await import('node:crypto')).sign('sha256', Buffer.from('x'), { key: pair.privateKey, format: 'der', type: 'pkcs8' });
      expect(cryptoVerify('sha256', Buffer.from('x'), { key: pair.publicKey, format: 'der', type: 'spki' }, sig)).toBe(true);
    }
  });

  it('seals and unseals secrets; tampering is a data error', async () => {
    const secret = Buffer.from('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    const sealed = await backend.sealSecret(secret);
    expect(sealed.includes(secret)).toBe(false);
    expect(await backend.unsealSecret(sealed)).toEqual(secret);
    const bad = Buffer.from(sealed);
    bad[bad.length - 3]! ^= 1;
    await expect(backend.unsealSecret(bad)).rejects.toMatchObject({ kind: 'data' });
    await expect(backend.unsealSecret(Buffer.from([9, 9, 9]))).rejects.toMatchObject({ kind: 'data' });
  });

  it('reports health and stats', async () => {
    expect(await backend.health()).toMatchObject({ ok: true });
    const s = backend.stats();
    expect(s.sessionsInUse).toBe(0);
    expect(s.sessionsIdle).toBeGreaterThan(0);
    expect(s.cachedKeys).toBeGreaterThan(0);
  });

  it('rejects a blob for a different key spec', async () => {
    const m = await backend.generateKeyMaterial('HMAC_256');
    await expect(backend.encryptSymmetric(ref('SYMMETRIC_DEFAULT', m.wrapped), Buffer.from('x'), Buffer.alloc(0))).rejects.toMatchObject({
      kind: 'data',
    });
  });
});
