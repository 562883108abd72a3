/**
 * Old key material keeps decrypting after rotation, through the real Encrypt and Decrypt
 * operations: on-demand and automatic rotations each add a version, and ciphertexts written
 * under every version still decrypt, each naming the material it used.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { rotateKeyOnDemand } from '../../../src/core/operations/rotate-key-on-demand.js';
import type { Logger } from '../../../src/core/ports.js';
import { startScheduler } from '../../../src/core/scheduler.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { call, DAY_MS, newKey } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

describe('rotation and decryption', () => {
  it('decrypts ciphertexts from every key material version', async () => {
    const { keyId } = await newKey(kms);
    const scheduler = startScheduler(kms.deps, silent, { intervalMs: 3_600_000 });
    try {
      const written: Array<{ blob: unknown; text: string; material: string | undefined }> = [];
      const write = async (text: string) => {
        const out = await call(kms, encrypt, { KeyId: keyId, Plaintext: Buffer.from(text).toString('base64') });
        written.push({ blob: out.CiphertextBlob, text, material: (await kms.store.getKey(keyId))!.currentVersionId });
      };
      await write('original');
      await call(kms, rotateKeyOnDemand, { KeyId: keyId });
      await write('after on-demand rotation');
      await call(kms, enableKeyRotation, { KeyId: keyId, RotationPeriodInDays: 90 });
      kms.clock.advance(90 * DAY_MS);
      await scheduler.runOnce();
      await write('after automatic rotation');

      expect(new Set(written.map((w) => w.material)).size).toBe(3);
      for (const w of written) {
        const out = await call(kms, decrypt, { CiphertextBlob: w.blob });
        expect(Buffer.from(out.Plaintext as string, 'base64').toString()).toBe(w.text);
        expect(out.KeyMaterialId).toBe(w.material);
      }
    } finally {
      await scheduler.stop();
    }
  });
});
