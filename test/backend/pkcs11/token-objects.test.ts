/**
 * What an outside tool sees in the token: the backend's own keys are sensitive and never
 * extractable, and creating CMKs adds no token objects. Uses a token of its own (made with
 * initToken) so other test files working on the shared token cannot change the counts.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend, type Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { returnValueOf } from '../../../src/backend/pkcs11/errors.js';
import { TOKEN_KEY_LABELS } from '../../../src/backend/pkcs11/token-keys.js';
import { env } from './helpers.js';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const P = pkcs11js;
const label = `objects-${randomBytes(4).toString('hex')}`;
// Throwaway PINs for a throwaway test token: on pkcs11-tool's argv in tests only.
const userPin = randomBytes(8).toString('hex');
const soPin = randomBytes(8).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-objects-'));
let backend: Pkcs11Backend;

function listObjects(): string {
  return execFileSync(
    'pkcs11-tool',
    ['--module', env('HSMKMS_TEST_MODULE'), '--token-label', label, '--login', '--pin', userPin, '--list-objects'],
    { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
}

/** PKCS#11 3.0's CKR_ACTION_PROHIBITED (0x1B), which pkcs11js does not name. */
const CKR_ACTION_PROHIBITED = 0x1b;

/** The return code a call failed with (the test fails if it succeeded). */
function failure(call: () => unknown): number {
  try {
    call();
  } catch (e) {
    const code = returnValueOf(e)?.ckr;
    if (code === undefined) throw e;
    return code;
  }
  throw new Error('the call succeeded');
}

/** pkcs11-tool prints one block per object, each starting at column 0. */
function objects(listing: string): string[] {
  return listing.split(/\n(?=\S)/).filter((b) => /Object;/.test(b));
}

beforeAll(async () => {
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin, userPin });
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, userPin, { mode: 0o600 });
  backend = await openPkcs11Backend({ modulePath: env('HSMKMS_TEST_MODULE'), token: { label }, pin: { file: pinFile }, profile: 'softhsm2' });
});
afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('token objects', () => {
  it('holds exactly the domain key and the seal key, both sensitive and never extractable', () => {
    const found = objects(listObjects());
    expect(found).toHaveLength(2);
    for (const name of ['hsmkms-domain-key', 'hsmkms-seal-key']) {
      const block = found.find((b) => b.includes(`label:      ${name}`));
      expect(block, name).toBeDefined();
      expect(block).toMatch(/Secret Key Object; AES length 32/);
      expect(block).toMatch(/Access:.*\bsensitive\b/);
      expect(block).toMatch(/Access:.*always sensitive/);
      expect(block).toMatch(/Access:.*never extractable/);
      expect(block).not.toMatch(/Access:.*[^r] extractable/);
    }
    const domain = found.find((b) => b.includes('hsmkms-domain-key'))!;
    expect(domain).toMatch(/Usage:\s+wrap, unwrap\s*$/m);
    const seal = found.find((b) => b.includes('hsmkms-seal-key'))!;
    expect(seal).toMatch(/Usage:\s+encrypt, decrypt\s*$/m);
  });

  it('does not accumulate per-CMK objects: 50 keys later the token holds the same objects', async () => {
    const before = listObjects();
    const specs = ['SYMMETRIC_DEFAULT', 'HMAC_256', 'ECC_NIST_P256', 'ECC_NIST_P384', 'RSA_2048'] as const;
    for (let i = 0; i < 50; i++) {
      const spec = specs[i % specs.length]!;
      const m = await backend.generateKeyMaterial(spec);
      const key = { id: `objects-${i}`, keySpec: spec, wrapped: m.wrapped };
      if (spec === 'SYMMETRIC_DEFAULT') await backend.encryptSymmetric(key, Buffer.from('x'), Buffer.alloc(0));
      else if (spec === 'HMAC_256') await backend.generateMac(key, 'HMAC_SHA_256', Buffer.from('x'));
      else await backend.sign(key, spec === 'RSA_2048' ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256', Buffer.from('x'), 'RAW');
    }
    expect(backend.stats().cachedKeys).toBe(50);
    expect(listObjects()).toBe(before);
    expect(objects(before)).toHaveLength(2);
  });

  it('a second backend on the same token reuses the keys (and can unwrap the first one\'s blobs)', async () => {
    const m = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const key = { id: 'shared', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: m.wrapped };
    const c = await backend.encryptSymmetric(key, Buffer.from('across'), Buffer.alloc(0));
    const second = await openPkcs11Backend({ modulePath: env('HSMKMS_TEST_MODULE'), token: { label }, pin: { file: join(dir, 'pin') }, profile: 'softhsm2' });
    try {
      expect((await second.decryptSymmetric(key, c.iv, c.ciphertext, Buffer.alloc(0))).toString()).toBe('across');
    } finally {
      await second.close();
    }
    expect(objects(listObjects())).toHaveLength(2);
  });

  it('the domain key cannot be changed, not even in a copy: the PIN holder cannot give it a new use', () => {
    // Were it modifiable, whoever holds the PIN could turn on CKA_DECRYPT and undo RFC 5649
    // wrapping with raw AES, sidestepping the unwrap template. The same check makes SoftHSM2
    // refuse a session-object copy (CKA_TOKEN false), which is why the backend cannot unwrap
    // cold keys with an in-memory copy of the domain key and uses the token object.
    const m = backend.module;
    const slot = m.C_GetSlotList(true).find((sl) => m.C_GetTokenInfo(sl).label.trim() === label)!;
    const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    try {
      m.C_FindObjectsInit(s, [{ type: P.CKA_LABEL, value: TOKEN_KEY_LABELS.domain }]);
      const [domainKey] = m.C_FindObjects(s, 2) as Handle[];
      m.C_FindObjectsFinal(s);
      const [modifiable, decrypt] = m.C_GetAttributeValue(s, domainKey!, [{ type: P.CKA_MODIFIABLE }, { type: P.CKA_DECRYPT }]);
      expect(modifiable!.value).toEqual(Buffer.from([0]));
      expect(decrypt!.value).toEqual(Buffer.from([0]));
      expect(failure(() => m.C_SetAttributeValue(s, domainKey!, [{ type: P.CKA_DECRYPT, value: true }]))).toBe(CKR_ACTION_PROHIBITED);
      expect(failure(() => m.C_CopyObject(s, domainKey!, [{ type: P.CKA_TOKEN, value: false }]))).toBe(P.CKR_ATTRIBUTE_READ_ONLY);
      expect(failure(() => m.C_CopyObject(s, domainKey!, [{ type: P.CKA_TOKEN, value: false }, { type: P.CKA_DECRYPT, value: true }]))).toBe(
        P.CKR_ATTRIBUTE_READ_ONLY,
      );
    } finally {
      m.C_CloseSession(s);
    }
    // The refused copies left nothing behind in the token.
    expect(objects(listObjects())).toHaveLength(2);
  });

  it('an Ed25519 key is one private token object, sensitive and never extractable, that signs and goes with its key', async () => {
    const m = await backend.generateKeyMaterial('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY');
    const key = { id: 'ed25519-object', keySpec: 'ECC_NIST_EDWARDS25519' as const, wrapped: m.wrapped };
    const found = objects(listObjects());
    expect(found).toHaveLength(3);
    const block = found.find((b) => b.includes('label:      hsmkms-key-material'));
    expect(block).toBeDefined();
    expect(block).toMatch(/^Private Key Object; EC_EDWARDS/);
    expect(block).toMatch(/Usage:\s+sign\s*$/m);
    expect(block).toMatch(/Access:.*\bsensitive\b/);
    expect(block).toMatch(/Access:.*always sensitive/);
    expect(block).toMatch(/Access:.*never extractable/);
    expect(block).toMatch(/Access:.*\blocal\b/); // generated in the token
    expect(block).not.toMatch(/Access:.*[^r] extractable/);
    // No session copy or public key object stays beside it; signing finds it, however often.
    const message = Buffer.from('signed in the token');
    for (let i = 0; i < 3; i++) {
      const signature = await backend.sign(key, 'ED25519_SHA_512', message, 'RAW');
      expect(cryptoVerify(null, message, createPublicKey({ key: m.publicKey!, format: 'der', type: 'spki' }), signature)).toBe(true);
    }
    // Its handle leaves the cache without destroying it; deleting the key material does.
    backend.forget(key.id);
    expect(objects(listObjects())).toHaveLength(3);
    await backend.destroyMaterial(key);
    expect(objects(listObjects())).toHaveLength(2);
    await expect(backend.sign(key, 'ED25519_SHA_512', message, 'RAW')).rejects.toMatchObject({ code: 'ERR_KEY_MATERIAL_MISSING' });
  });
});
