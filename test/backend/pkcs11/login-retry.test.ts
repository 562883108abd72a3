/**
 * A C_Login that fails because another process is rewriting SoftHSM2's token files (workers or
 * nodes starting together) is tried again under the softhsm2 profile, and only there. The failures
 * come from the PKCS#11 interposer (cloudhsm project only); the profile is chosen per backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { interposerControl } from '../../support/interposer.js';
import { openTestBackend } from './helpers.js';

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
});
