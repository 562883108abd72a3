/**
 * Multi-Region key material from one token to another (replica-transport.ts): generated on the
 * run's token, wrapped there to a transport key made in a second token, unwrapped in that token,
 * and used on both sides with the same result. Each check goes through the tokens only: the test
 * never sees the material.
 */
import { constants, createPublicKey, diffieHellman, ECDH, generateKeyPairSync, publicEncrypt, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend, type Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { BackendError } from '../../../src/core/errors.js';
import type { KeySpec, KeyUsage } from '../../../src/core/model.js';
import { replicaTransportOf, type TransportHash } from '../../../src/core/multi-region/transport.js';
import { env, testProfile } from '../../support/hsm.js';
import { openTestBackend } from './helpers.js';

let source: Pkcs11Backend;
let destination: Pkcs11Backend;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-transport-'));
let n = 0;

beforeAll(async () => {
  source = await openTestBackend();
  // A token of its own for the other "region" (a second HSM with its own domain key).
  const label = `region-${randomBytes(4).toString('hex')}`;
  const userPin = randomBytes(8).toString('hex');
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin: randomBytes(8).toString('hex'), userPin });
  const pinFile = join(dir, 'pin');
  const cloudhsm = testProfile() === 'cloudhsm';
  writeFileSync(pinFile, cloudhsm ? `hsmkms:${userPin}` : userPin, { mode: 0o600 });
  destination = await openPkcs11Backend({
    modulePath: cloudhsm ? env('HSMKMS_TEST_INTERPOSER') : env('HSMKMS_TEST_MODULE'),
    token: { label },
    pin: { file: pinFile },
    profile: testProfile(),
  });
});
afterAll(async () => {
  await source?.close();
  await destination?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ref = (keySpec: KeySpec, wrapped: Buffer, prefix: string) => ({ id: `${prefix}-${n++}`, keySpec, wrapped });

/**
 * Wraps with the best hash both tokens claim; a token that turns out not to have it (SoftHSM2
 * behind the CloudHSM imitation claims SHA-256) drops it from its list, and the next one is tried.
 */
async function wrapWithBest(from: Pkcs11Backend, to: Pkcs11Backend, spec: KeySpec, transferWrapped: Buffer, publicKey: Buffer, keyUsage?: KeyUsage) {
  for (;;) {
    const hash = from.transportHashes().find((h) => to.transportHashes().includes(h))!;
    try {
      return { hash, wrapped: await from.wrapForReplica({ keySpec: spec, keyUsage, transferWrapped }, publicKey, hash) };
    } catch (e) {
      if (from.transportHashes().includes(hash)) throw e;
    }
  }
}

/** Sends one freshly made version from the source token to the destination token, with its public key as the primary sends it. */
async function transfer(spec: KeySpec, keyUsage?: KeyUsage) {
  const material = await source.generateReplicableMaterial(spec, keyUsage);
  const transport = await destination.createWrappingKeyPair('RSA_3072');
  const { hash, wrapped } = await wrapWithBest(source, destination, spec, material.transferWrapped, transport.publicKey, keyUsage);
  const transportRef = ref('RSA_3072', transport.wrapped, 'transport') as never;
  const arrived = await destination.unwrapFromReplica(transportRef, hash, wrapped, spec, keyUsage, material.publicKey);
  return { material, arrived, hash, transport, transportRef, wrapped };
}

/** The SubjectPublicKeyInfo of an EC key with its point compressed; `negate` takes the other y. */
function compressedSpki(spki: Buffer, curve: string, negate = false): Buffer {
  // The lengths of the outer SEQUENCE and the BIT STRING are long-form for P-521 (0x81 n).
  const start = spki[1]! & 0x80 ? 2 + (spki[1]! & 0x7f) : 2;
  const algorithm = spki.subarray(start, start + 2 + spki[start + 1]!);
  const bits = spki.subarray(start + algorithm.length);
  const compressed = ECDH.convertKey(bits.subarray(bits[1]! & 0x80 ? 3 + (bits[1]! & 0x7f) : 3), curve, undefined, undefined, 'compressed') as Buffer;
  if (negate) compressed[0] = compressed[0]! ^ 1;
  const body = Buffer.concat([algorithm, Buffer.from([0x03, compressed.length + 1, 0]), compressed]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** An uncompressed EC SubjectPublicKeyInfo with its point's mirror (x, −y): same x, the other y. */
function mirroredSpki(spki: Buffer, curve: string, fieldBytes: number): Buffer {
  const point = spki.subarray(spki.length - (1 + 2 * fieldBytes));
  const compressed = ECDH.convertKey(point, curve, undefined, undefined, 'compressed') as Buffer;
  compressed[0] = compressed[0]! ^ 1;
  const mirror = ECDH.convertKey(compressed, curve, undefined, undefined, 'uncompressed') as Buffer;
  expect(mirror.subarray(1, 1 + fieldBytes).equals(point.subarray(1, 1 + fieldBytes))).toBe(true);
  return Buffer.concat([spki.subarray(0, spki.length - point.length), mirror]);
}

describe('replica transport between two tokens', () => {
  it('is a capability the PKCS#11 backend has', () => {
    expect(replicaTransportOf(source)).toBe(source);
    expect(source.transportHashes()).toContain('SHA_1');
  });

  it('AES-256: what one token encrypts, the other decrypts', async () => {
    const { material, arrived, wrapped } = await transfer('SYMMETRIC_DEFAULT');
    expect(arrived.wrapped.equals(material.wrapped)).toBe(false);
    expect(wrapped.length).toBe(384);
    const aad = Buffer.from('context');
    const c = await source.encryptSymmetric(ref('SYMMETRIC_DEFAULT', material.wrapped, 'src'), Buffer.from('across regions'), aad);
    expect((await destination.decryptSymmetric(ref('SYMMETRIC_DEFAULT', arrived.wrapped, 'dst'), c.iv, c.ciphertext, aad)).toString()).toBe('across regions');
    const back = await destination.encryptSymmetric(ref('SYMMETRIC_DEFAULT', arrived.wrapped, 'dst'), Buffer.from('and back'), aad);
    expect((await source.decryptSymmetric(ref('SYMMETRIC_DEFAULT', material.wrapped, 'src'), back.iv, back.ciphertext, aad)).toString()).toBe('and back');
  });

  it('HMAC: both tokens compute the same MAC', async () => {
    const { material, arrived } = await transfer('HMAC_384');
    const message = Buffer.from('message');
    const a = await source.generateMac(ref('HMAC_384', material.wrapped, 'src'), 'HMAC_SHA_384', message);
    const b = await destination.generateMac(ref('HMAC_384', arrived.wrapped, 'dst'), 'HMAC_SHA_384', message);
    expect(b.equals(a)).toBe(true);
  });

  for (const spec of ['ECC_NIST_P256', 'RSA_2048'] as const) {
    it(`${spec}: the destination signs with the private key whose public key the source made`, async () => {
      const { material, arrived } = await transfer(spec);
      const alg = spec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256';
      const signature = await destination.sign(ref(spec, arrived.wrapped, 'dst'), alg, Buffer.from('signed in the other region'), 'RAW');
      const key = createPublicKey({ key: material.publicKey!, format: 'der', type: 'spki' });
      const options = spec === 'RSA_2048' ? { key, padding: 6, saltLength: 32 } : { key };
      expect(cryptoVerify('sha256', Buffer.from('signed in the other region'), options, signature)).toBe(true);
    });
  }

  it('KEY_AGREEMENT: derive-only on both sides, the same ECDH secret, never a signature; never sent or received as signing material', async () => {
    const { material, arrived } = await transfer('ECC_NIST_P384', 'KEY_AGREEMENT');
    const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const peerSpki = peer.publicKey.export({ format: 'der', type: 'spki' });
    const here = await source.deriveSharedSecret(ref('ECC_NIST_P384', material.wrapped, 'src'), peerSpki);
    const there = await destination.deriveSharedSecret(ref('ECC_NIST_P384', arrived.wrapped, 'dst'), peerSpki);
    expect(there.equals(here)).toBe(true);
    expect(here.equals(diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: material.publicKey!, format: 'der', type: 'spki' }) }))).toBe(true);
    for (const [backend, wrapped] of [[source, material.wrapped], [destination, arrived.wrapped]] as const)
      await expect(backend.sign(ref('ECC_NIST_P384', wrapped, 'sig'), 'ECDSA_SHA_384', Buffer.from('m'), 'RAW')).rejects.toBeInstanceOf(BackendError);
    // Its transfer blob says key-agreement: it does not go out as (nor come back into) a signing key.
    const transport = await destination.createWrappingKeyPair('RSA_3072');
    const hash = source.transportHashes().find((h) => destination.transportHashes().includes(h))!;
    await expect(source.wrapForReplica({ keySpec: 'ECC_NIST_P384', transferWrapped: material.transferWrapped }, transport.publicKey, hash)).rejects.toMatchObject({
      kind: 'data',
    });
    const signing = await source.generateReplicableMaterial('ECC_NIST_P384');
    await expect(
      source.wrapForReplica({ keySpec: 'ECC_NIST_P384', keyUsage: 'KEY_AGREEMENT', transferWrapped: signing.transferWrapped }, transport.publicKey, hash),
    ).rejects.toMatchObject({ kind: 'data' });
    await expect(source.generateReplicableMaterial('RSA_2048', 'KEY_AGREEMENT')).rejects.toBeInstanceOf(BackendError);
  });

  const EC_FIELD_BYTES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66, secp256k1: 32 };
  const CASES: Array<{ spec: KeySpec; usage: KeyUsage; curve?: string }> = [
    { spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY', curve: 'prime256v1' },
    { spec: 'ECC_SECG_P256K1', usage: 'SIGN_VERIFY', curve: 'secp256k1' },
    // Every curve KEY_AGREEMENT is offered for (the NIST ones; model.ts).
    { spec: 'ECC_NIST_P256', usage: 'KEY_AGREEMENT', curve: 'prime256v1' },
    { spec: 'ECC_NIST_P384', usage: 'KEY_AGREEMENT', curve: 'secp384r1' },
    { spec: 'ECC_NIST_P521', usage: 'KEY_AGREEMENT', curve: 'secp521r1' },
    { spec: 'RSA_2048', usage: 'SIGN_VERIFY' },
  ];
  for (const { spec, usage, curve } of CASES)
    it(`${spec} ${usage}: the public key sent is checked against the material in the token and kept as GetPublicKey answers it (DER, uncompressed)`, async () => {
      const { material, arrived, hash, transportRef, wrapped } = await transfer(spec, usage);
      expect(arrived.publicKey!.equals(material.publicKey!)).toBe(true);
      const unwrap = (publicKey?: Uint8Array) => destination.unwrapFromReplica(transportRef, hash, wrapped, spec, usage, publicKey);
      if (curve) {
        // Sent compressed: stored uncompressed, byte for byte what the primary's GetPublicKey answers.
        const compressed = compressedSpki(material.publicKey!, curve);
        expect(compressed.length).toBeLessThan(material.publicKey!.length);
        expect((await unwrap(compressed)).publicKey!.equals(material.publicKey!)).toBe(true);
        // An EC private key object has no point: the public key must come with it.
        await expect(unwrap(undefined)).rejects.toMatchObject({ kind: 'data' });
        // The other point with the same x (the mirror (x, −y)) is not its public key, for signing and key-agreement material alike.
        await expect(unwrap(compressedSpki(material.publicKey!, curve, true))).rejects.toMatchObject({ kind: 'data' });
      } else expect((await unwrap(undefined)).publicKey!.equals(material.publicKey!)).toBe(true);
      if (curve) await expect(unwrap(mirroredSpki(material.publicKey!, curve, EC_FIELD_BYTES[curve]!))).rejects.toMatchObject({ kind: 'data', message: expect.stringMatching(/not the public key of that/) });
      // Another key's public key of the same spec: refused, nothing stored.
      const other = await source.generateReplicableMaterial(spec, usage);
      const refused = await unwrap(other.publicKey).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(BackendError);
      expect(refused).toMatchObject({ kind: 'data', message: expect.stringMatching(/not the public key of that/) });
    });

  it('the material sent on from the destination arrives back at the source intact (a transfer blob on both sides)', async () => {
    const { material, arrived } = await transfer('HMAC_256');
    const back = await source.createWrappingKeyPair('RSA_2048');
    const { hash, wrapped } = await wrapWithBest(destination, source, 'HMAC_256', arrived.transferWrapped, back.publicKey);
    const home = await source.unwrapFromReplica(ref('RSA_2048', back.wrapped, 'back') as never, hash, wrapped, 'HMAC_256');
    const m = Buffer.from('round trip');
    expect(
      (await source.generateMac(ref('HMAC_256', home.wrapped, 'src'), 'HMAC_SHA_256', m)).equals(
        await source.generateMac(ref('HMAC_256', material.wrapped, 'src'), 'HMAC_SHA_256', m),
      ),
    ).toBe(true);
  });

  it('refuses what is not a transfer: a use blob, a garbage transport key, tampered or misdirected material', async () => {
    const material = await source.generateReplicableMaterial('SYMMETRIC_DEFAULT');
    const transport = await destination.createWrappingKeyPair('RSA_3072');
    const hash: TransportHash = 'SHA_1';
    // The domain-key blob is not a transfer blob: the replication key does not know its key id.
    await expect(source.wrapForReplica({ keySpec: 'SYMMETRIC_DEFAULT', transferWrapped: material.wrapped }, transport.publicKey, hash)).rejects.toBeInstanceOf(BackendError);
    const spki = (pair: { publicKey: { export(o: { type: 'spki'; format: 'der' }): Buffer } }) => pair.publicKey.export({ type: 'spki', format: 'der' });
    const weak = spki(generateKeyPairSync('rsa', { modulusLength: 1024 }));
    const ec = spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    // An EC key at infinity (a peer's answer): node:crypto's JWK export aborted the process on it.
    const infinity = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');
    for (const bad of [randomBytes(100), transport.publicKey.subarray(0, 40), weak, ec, infinity]) {
      const error = await source.wrapForReplica({ keySpec: 'SYMMETRIC_DEFAULT', transferWrapped: material.transferWrapped }, bad, hash).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BackendError);
      expect((error as BackendError).kind).toBe('data');
    }
    const wrapped = await source.wrapForReplica({ keySpec: 'SYMMETRIC_DEFAULT', transferWrapped: material.transferWrapped }, transport.publicKey, hash);
    const tampered = Buffer.from(wrapped);
    tampered[10]! ^= 1;
    const transportRef = ref('RSA_3072', transport.wrapped, 'transport') as never;
    for (const [data, spec] of [
      [tampered, 'SYMMETRIC_DEFAULT'],
      [wrapped.subarray(0, 100), 'SYMMETRIC_DEFAULT'],
      [wrapped, 'RSA_2048'],
    ] as const) {
      const error = await destination.unwrapFromReplica(transportRef, hash, data, spec).catch((e: unknown) => e);
      expect(error, `${spec} ${data.length}`).toBeInstanceOf(BackendError);
      expect((error as BackendError).kind).toBe('data');
    }
    // The untouched material still unwraps with the same transport key: nothing above broke a session.
    await expect(destination.unwrapFromReplica(transportRef, hash, wrapped, 'SYMMETRIC_DEFAULT')).resolves.toHaveProperty('wrapped');
  });

  // Only a token that offers a hash it does not do shows it: SoftHSM2 behind the CloudHSM imitation offers SHA-256.
  it.runIf(testProfile() === 'cloudhsm')(
    'a hash this token offered but refuses at the unwrap is its own failure, not the sender\'s (never `data`, which the core answers IncorrectKeyMaterialException, given up for good); the next attempt takes another hash',
    async () => {
      expect(destination.transportHashes()).toContain('SHA_256');
      const transport = await destination.createWrappingKeyPair('RSA_3072');
      const transportRef = ref('RSA_3072', transport.wrapped, 'transport') as never;
      // The sender did its part right: AES-256 material under RSAES-OAEP with SHA-256, made here in software.
      const material = randomBytes(32);
      const oaep = (oaepHash: string) => publicEncrypt({ key: createPublicKey({ key: transport.publicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material);
      const refused = await destination.unwrapFromReplica(transportRef, 'SHA_256', oaep('sha256'), 'SYMMETRIC_DEFAULT').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(BackendError);
      expect((refused as BackendError).kind).not.toBe('data');
      expect(destination.transportHashes()).not.toContain('SHA_256');
      // A new PrepareReplica offers SHA-1 only, and the same material arrives.
      await expect(destination.unwrapFromReplica(transportRef, 'SHA_1', oaep('sha1'), 'SYMMETRIC_DEFAULT')).resolves.toHaveProperty('wrapped');
    },
  );
});
