/**
 * A custom key store's (or the XKS proxy's) token keyring on a token whose user PIN this process's
 * SoftHSM2 copy does not have (read before another process set it): the main backend re-initialises
 * the module at start-up in that case (stale-pin.test.ts), a keyring never does — the module is
 * shared with the default store, so C_Finalize would end its sessions and login. The keyring refuses
 * with a message that says to restart, and the default store in this process keeps working.
 *
 * The stale state is made for real, as in stale-pin.test.ts: this process initialises a token and a
 * second process sets its user PIN.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toConnectionError } from '../../../src/backend/pkcs11/cluster-tokens.js';
import type { Pkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { STALE_USER_PIN, TokenKeyring } from '../../../src/backend/pkcs11/token-keyring.js';
import { openTestBackend } from './helpers.js';
import { staleToken as makeStaleToken } from './stale-token.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-keyring-stale-pin-'));

let backend: Pkcs11Backend;
beforeAll(async () => {
  // The default store of this process, logged in on the run's token through the same module.
  backend = await openTestBackend();
});
afterAll(async () => {
  await backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A stale token (stale-token.ts) as a custom key store's keyring would open it. */
function staleToken(setPin: boolean) {
  const { modulePath, label, userPin } = makeStaleToken(dir, 'cks-stale', setPin);
  return { modulePath, token: { label }, pin: async () => userPin, profile: 'softhsm2' as const, alreadyLoggedIn: 'refuse' as const };
}

describe('a token keyring on a token with a stale user PIN', () => {
  it('is refused with a message that says to restart, the module is not re-initialised, and the default store keeps working', async () => {
    const before = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
    const config = staleToken(true);
    const error = (await TokenKeyring.open(config).then(
      () => ({ code: 'opened', message: '' }),
      (e: unknown) => e as { code: string; message: string },
    ));
    expect(error).toMatchObject({ code: STALE_USER_PIN, message: expect.stringMatching(/Restart this hsmkms process/) });
    expect(error.message).not.toContain(await config.pin());
    // As ConnectCustomKeyStore records it: FAILED, INTERNAL_ERROR, with the message for the log.
    expect(toConnectionError(error, 'cks-token')).toMatchObject({ code: 'INTERNAL_ERROR', message: expect.stringMatching(/^Cluster cks-token: .*Restart this hsmkms process/) });
    // Nothing was finalised: the default store's login and sessions still work, with material made before.
    const aad = Buffer.from('still here');
    const sealed = await backend.encryptSymmetric({ id: 'before', keySpec: 'SYMMETRIC_DEFAULT', wrapped: before.wrapped }, Buffer.from('x'), aad);
    expect((await backend.decryptSymmetric({ id: 'before', keySpec: 'SYMMETRIC_DEFAULT', wrapped: before.wrapped }, sealed.iv, sealed.ciphertext, aad)).toString()).toBe('x');
    expect((await backend.health()).ok).toBe(true);
  });

  it('a token whose user PIN really is not set keeps its own code (USER_NOT_FOUND)', async () => {
    const error = await TokenKeyring.open(staleToken(false)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CKR_USER_PIN_NOT_INITIALIZED' });
    expect(toConnectionError(error, 'cks-token')).toMatchObject({ code: 'USER_NOT_FOUND' });
  });
});
