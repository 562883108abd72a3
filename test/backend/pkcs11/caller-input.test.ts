/**
 * Input a caller controls never triggers recovery, in any profile: a tampered ciphertext or a
 * blob that names a key of another type is InvalidCiphertextException, and the backend keeps its
 * sessions (no pool drain, no re-opened owner session, no warning).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { ciphertextHeader, parseCiphertextBlob, writeCiphertextBlob } from '../../../src/core/ciphertext-blob.js';
import type { HsmProfileName } from '../../../src/config/hsm.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from '../../core/operations/crypto-fixtures.js';
import { openTestBackend, RecordingLogger } from './helpers.js';

for (const profile of ['generic', 'softhsm2'] as HsmProfileName[]) {
  describe(`the ${profile} profile on SoftHSM2`, () => {
    let backend: Pkcs11Backend;
    let kms: TestKms;
    const log = new RecordingLogger();
    beforeAll(async () => {
      backend = await openTestBackend({ profile, poolSize: 4 }, log);
      kms = await createTestKms({ backend });
    });
    afterAll(async () => {
      await kms.close();
      await backend.close();
    });

    it('answers a tampered ciphertext with InvalidCiphertextException and drains nothing', async () => {
      const key = await newKey(kms);
      const blob = bytesOf((await call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('attack at dawn') })).CiphertextBlob);
      const before = backend.stats();
      const warnings = log.count('warn');
      for (let i = 0; i < 10; i++) {
        const tampered = Buffer.from(blob);
        tampered[tampered.length - 1 - i]! ^= 0x01; // tag and ciphertext bytes
        await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(tampered) }), 'InvalidCiphertextException');
      }
      await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(blob), EncryptionContext: { not: 'the one' } }), 'InvalidCiphertextException');
      const after = backend.stats();
      expect(after.poolDrains).toBe(before.poolDrains);
      expect(after.sessionsIdle).toBe(before.sessionsIdle);
      expect(log.count('warn')).toBe(warnings);
      expect(log.records.some((r) => /owner session re-opened/.test(r.msg ?? ''))).toBe(false);
      // The untampered blob still decrypts on the same sessions.
      expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: b64(blob) })).Plaintext).toString()).toBe('attack at dawn');
    });

    it('answers a blob crafted to name an RSA or HMAC key with InvalidCiphertextException, not a 500', async () => {
      const before = backend.stats();
      for (const [spec, usage] of [
        ['RSA_2048', 'ENCRYPT_DECRYPT'],
        ['HMAC_256', 'GENERATE_VERIFY_MAC'],
      ] as const) {
        const key = await newKey(kms, spec, usage);
        const header = ciphertextHeader({ keyId: key.keyId, versionId: key.currentVersionId! });
        const crafted = writeCiphertextBlob(header, randomBytes(12), randomBytes(48));
        expect(parseCiphertextBlob(crafted).keyId).toBe(key.keyId);
        await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(crafted) }), usage === 'ENCRYPT_DECRYPT' ? 'InvalidCiphertextException' : 'InvalidKeyUsageException');
      }
      expect(backend.stats().poolDrains).toBe(before.poolDrains);
    });

    it('keeps serving other requests while bad input pours in', async () => {
      const key = await newKey(kms);
      const good = bytesOf((await call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('fine') })).CiphertextBlob);
      const bad = Buffer.from(good);
      bad[bad.length - 1]! ^= 0x80;
      const drains = backend.stats().poolDrains;
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => call(kms, decrypt, { CiphertextBlob: b64(i % 2 ? bad : good) })),
      );
      results.forEach((r, i) => {
        if (i % 2) expect(r.status === 'rejected' && (r.reason as { type?: string }).type).toBe('InvalidCiphertextException');
        else expect(r.status).toBe('fulfilled');
      });
      expect(backend.stats().poolDrains).toBe(drains);
    });
  });
}
