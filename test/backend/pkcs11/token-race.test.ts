/**
 * Several domain keys in one token (two processes racing on first start, or a future rotation):
 * new material goes under the one with the smallest CKA_ID, so racing processes converge, and
 * every blob names the key that wrapped it, so each backend unwraps what any other wrapped — even
 * under a key created after it started.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, expect, it } from 'vitest';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { parseMaterialBlob } from '../../../src/backend/pkcs11/material-blob.js';
import { TOKEN_KEY_LABELS } from '../../../src/backend/pkcs11/token-keys.js';
import { env } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('agrees on the domain key with the smallest id and unwraps under any of them', async () => {
  const label = `race-${randomBytes(4).toString('hex')}`;
  const pin = randomBytes(8).toString('hex');
  await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin: randomBytes(8).toString('hex'), userPin: pin });
  writeFileSync(join(dir, 'pin'), pin, { mode: 0o600 });
  const config = { modulePath: env('HSMKMS_TEST_MODULE'), token: { label }, pin: { file: join(dir, 'pin') }, profile: 'softhsm2' as const };
  const a = await openPkcs11Backend(config);
  const b = await (async () => {
    // What a process that lost the race leaves behind: a second domain key, here with the
    // smallest possible id so that it wins from now on.
    const m = a.module;
    const P = pkcs11js;
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === label)!;
    const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    m.C_GenerateKey(s, { mechanism: P.CKM_AES_KEY_GEN }, [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
      { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_VALUE_LEN, value: 32 },
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_WRAP, value: true },
      { type: P.CKA_UNWRAP, value: true },
      { type: P.CKA_LABEL, value: TOKEN_KEY_LABELS.domain },
      { type: P.CKA_ID, value: Buffer.alloc(16) },
    ]);
    m.C_CloseSession(s);
    return openPkcs11Backend(config);
  })();
  try {
    const fromA = await a.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const fromB = await b.generateKeyMaterial('SYMMETRIC_DEFAULT');
    expect(parseMaterialBlob(fromB.wrapped).domainKeyId).toEqual(Buffer.alloc(16));
    expect(parseMaterialBlob(fromA.wrapped).domainKeyId).not.toEqual(Buffer.alloc(16));
    for (const [writer, reader, wrapped, id] of [
      [a, b, fromA.wrapped, 'a'],
      [b, a, fromB.wrapped, 'b'], // a learns about the new key from the blob
    ] as const) {
      const key = { id, keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped };
      const c = await writer.encryptSymmetric(key, Buffer.from(`from ${id}`), Buffer.alloc(0));
      expect((await reader.decryptSymmetric(key, c.iv, c.ciphertext, Buffer.alloc(0))).toString()).toBe(`from ${id}`);
    }
  } finally {
    await a.close();
    await b.close();
  }
});
