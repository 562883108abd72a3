/**
 * A start-up step (C_Login, finding the token, finding or making the token's own keys) that fails
 * because another process is rewriting SoftHSM2's token files (workers or nodes starting together)
 * is tried again under the softhsm2 profile, and only there. The failures come from the PKCS#11
 * interposer (cloudhsm project only); the profile is chosen per backend.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HsmProfileName } from '../../../src/config/hsm.js';
import { initToken } from '../../../src/backend/pkcs11/embedded-token.js';
import { openPkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { interposerControl } from '../../support/interposer.js';
import { env, openTestBackend } from './helpers.js';

const control = interposerControl();
afterAll(() => control.dispose());

describe('a login that meets another process on the token', () => {
  it('is tried again under the softhsm2 profile, and the backend opens', async () => {
    control.set(['fault=C_Login CKR_GENERAL_ERROR count=3']);
    const backend = await openTestBackend({ profile: 'softhsm2' });
    try {
      // Opening found the token's private domain and seal keys, which only a logged-in session
      // sees. (This profile's GCM and key templates are not what the interposer's CloudHSM rules
      // accept, so nothing more is asked of it here.)
      expect((await backend.health()).ok).toBe(true);
      expect(await backend.generateRandom(16)).toHaveLength(16);
    } finally {
      control.set([]);
      await backend.close();
    }
  });

  it('gives up after six attempts, with the code', async () => {
    control.set(['fault=C_Login CKR_GENERAL_ERROR count=6']);
    await expect(openTestBackend({ profile: 'softhsm2' })).rejects.toThrow(/C_Login.*CKR_GENERAL_ERROR/);
    control.set([]);
  });

  // SoftHSM2's C_GetTokenInfo reads the token's files afresh and fails while another process
  // rewrites them: three nodes starting on one token met it before the login.
  for (const fn of ['C_GetTokenInfo', 'C_GetSlotList']) {
    it(`finds the token when ${fn} fails the same way at first`, async () => {
      control.set([`fault=${fn} CKR_GENERAL_ERROR count=3`]);
      const backend = await openTestBackend({ profile: 'softhsm2' });
      try {
        expect((await backend.health()).ok).toBe(true);
      } finally {
        control.set([]);
        await backend.close();
      }
    });
  }

  it('names the function and code when finding the token keeps failing', async () => {
    control.set(['fault=C_GetTokenInfo CKR_GENERAL_ERROR count=6']);
    await expect(openTestBackend({ profile: 'softhsm2' })).rejects.toThrow(/C_GetTokenInfo.*CKR_GENERAL_ERROR/);
    control.set(['fault=C_GetTokenInfo CKR_GENERAL_ERROR count=1']);
    await expect(openTestBackend({ profile: 'cloudhsm' })).rejects.toThrow(/C_GetTokenInfo.*CKR_GENERAL_ERROR/);
    control.set([]);
  });

  it('is not tried again where the profile does not call the code transient', async () => {
    control.set(['fault=C_Login CKR_GENERAL_ERROR count=1']);
    await expect(openTestBackend({ profile: 'cloudhsm' })).rejects.toThrow(/C_Login.*CKR_GENERAL_ERROR/);
    control.set([]);
  });

  // A token without the backend's own keys yet: the first processes to open it make them, and
  // met CKR_GENERAL_ERROR from C_GenerateKey while another process rewrote the token's files.
  describe("making the token's own keys", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsmkms-token-keys-'));
    const pinFile = join(dir, 'pin');
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // A throwaway token's PIN, on pkcs11-tool's argv in this test only.
    async function freshToken(): Promise<{ label: string; userPin: string }> {
      const label = `keys-${randomBytes(4).toString('hex')}`;
      const userPin = randomBytes(8).toString('hex');
      await initToken({ modulePath: env('HSMKMS_TEST_MODULE'), label, soPin: randomBytes(8).toString('hex'), userPin });
      // The interposer takes CloudHSM's user:password form, whichever profile the backend has.
      writeFileSync(pinFile, `hsmkms:${userPin}`, { mode: 0o600 });
      return { label, userPin };
    }
    const open = (label: string, profile: HsmProfileName) =>
      openPkcs11Backend({ modulePath: env('HSMKMS_TEST_INTERPOSER'), token: { label }, pin: { file: pinFile }, profile });
    function secretKeyLabels(label: string, userPin: string): string[] {
      const listing = execFileSync(
        'pkcs11-tool',
        ['--module', env('HSMKMS_TEST_MODULE'), '--token-label', label, '--login', '--pin', userPin, '--list-objects', '--type', 'secrkey'],
        { env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      return [...listing.matchAll(/label:\s+(\S+)/g)].map((m) => m[1]!).sort();
    }

    for (const fault of ['C_GenerateKey CKR_GENERAL_ERROR count=2', 'C_FindObjectsInit CKR_GENERAL_ERROR count=2']) {
      it(`are made once when ${fault.split(' ')[0]} fails that way at first`, async () => {
        const { label, userPin } = await freshToken();
        control.set([`fault=${fault}`]);
        const backend = await open(label, 'softhsm2');
        try {
          expect((await backend.health()).ok).toBe(true);
        } finally {
          control.set([]);
          await backend.close();
        }
        expect(secretKeyLabels(label, userPin)).toEqual(['hsmkms-domain-key', 'hsmkms-seal-key']);
      });
    }

    it('are not tried again where the profile does not call the code transient', async () => {
      const { label } = await freshToken();
      control.set(['fault=C_GenerateKey CKR_GENERAL_ERROR count=1']);
      await expect(open(label, 'cloudhsm')).rejects.toThrow(/C_GenerateKey.*CKR_GENERAL_ERROR/);
      control.set([]);
    });
  });
});
