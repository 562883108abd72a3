/**
 * Where the token enforces CKA_UNWRAP_TEMPLATE (the softhsm2 and cloudhsm profiles), the domain
 * key is created with one: whoever holds the PIN cannot unwrap a stored blob under it as an
 * extractable key — the token refuses — so CMK material cannot be exported. The generic profile
 * sets none (an unknown token may reject the attribute). Each case uses a token of its own, as
 * the template is fixed when the domain key is created.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, describe, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend, type Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { parseMaterialBlob } from '../../../src/backend/pkcs11/material-blob.js';
import { TOKEN_KEY_LABELS } from '../../../src/backend/pkcs11/token-keys.js';
import type { HsmProfileName } from '../../../src/config/hsm.js';
import { env, testHsmConfig, testProfile } from '../../support/hsm.js';

const P = pkcs11js;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-unwrap-template-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function backendOnNewToken(profile: HsmProfileName): Promise<{ backend: Pkcs11Backend; label: string }> {
  const label = `unwrap-${randomBytes(4).toString('hex')}`;
  const pin = randomBytes(8).toString('hex');
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin: randomBytes(8).toString('hex'), userPin: pin });
  const pinFile = join(dir, label);
  // The cloudhsm project reaches the token through the interposer, which wants CloudHSM's PIN form.
  writeFileSync(pinFile, profile === 'cloudhsm' ? `hsmkms:${pin}` : pin, { mode: 0o600 });
  return { backend: await openPkcs11Backend({ modulePath: testHsmConfig().modulePath, token: { label }, pin: { file: pinFile }, profile }), label };
}

/** Unwraps a stored blob under the domain key as the PIN holder could, asking for an extractable key. */
function unwrapAsExtractable(backend: Pkcs11Backend, label: string, wrapped: Buffer): Buffer {
  const m = backend.module;
  const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === label)!;
  const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  try {
    m.C_FindObjectsInit(s, [{ type: P.CKA_LABEL, value: TOKEN_KEY_LABELS.domain }]);
    const [domainKey] = m.C_FindObjects(s, 2);
    m.C_FindObjectsFinal(s);
    return m.C_UnwrapKey(s, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, domainKey!, parseMaterialBlob(wrapped).wrapped, [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_TOKEN, value: false },
      { type: P.CKA_SENSITIVE, value: false },
      { type: P.CKA_EXTRACTABLE, value: true },
      { type: P.CKA_ID, value: randomBytes(16) },
    ]);
  } finally {
    m.C_CloseSession(s);
  }
}

const enforcing: HsmProfileName = testProfile();
describe(`the ${enforcing} profile`, () => {
  it('creates a domain key under which no blob unwraps as extractable', async () => {
    const { backend, label } = await backendOnNewToken(enforcing);
    try {
      const material = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
      expect(() => unwrapAsExtractable(backend, label, material.wrapped)).toThrow(/CKR_TEMPLATE_INCONSISTENT/);
      // The backend's own use of the key is unaffected.
      const key = { id: 'k', keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: material.wrapped };
      const c = await backend.encryptSymmetric(key, Buffer.from('still works'), Buffer.alloc(0));
      expect((await backend.decryptSymmetric(key, c.iv, c.ciphertext, Buffer.alloc(0))).toString()).toBe('still works');
    } finally {
      await backend.close();
    }
  });
});

describe.runIf(testProfile() === 'softhsm2')('the generic profile', () => {
  it('sets no unwrap template (the PIN is the perimeter)', async () => {
    const { backend, label } = await backendOnNewToken('generic');
    try {
      const material = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
      expect(unwrapAsExtractable(backend, label, material.wrapped)).toBeInstanceOf(Buffer);
    } finally {
      await backend.close();
    }
  });
});
