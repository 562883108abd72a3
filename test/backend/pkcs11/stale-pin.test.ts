/**
 * SoftHSM2 reads a token's PIN blobs once, in C_Initialize. A process whose module read the token
 * before another process set the user PIN (what a worker or node sees when it starts while another
 * rewrites token.object) gets CKR_USER_PIN_NOT_INITIALIZED from every C_Login until the module is
 * initialised again, while C_GetTokenInfo says the PIN is set. Opening a backend under the
 * softhsm2 profile finalises and initialises the module again in that case, and only then.
 *
 * The stale state is made for real: this process initialises a token (so its copy has no user
 * PIN) and a second process sets the user PIN. Runs in the softhsm2 project only (a file of its
 * own: it finalises the module of its test process).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import type { HsmProfileName } from '../../../src/config/hsm.js';
import { staleToken as makeStaleToken } from './stale-token.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-stale-pin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stale token (stale-token.ts) and the backend configuration for it under `profile`. */
function staleToken(profile: HsmProfileName, setPin: boolean) {
  const { modulePath, label, pinFile, login, pinFlag } = makeStaleToken(dir, 'stale', setPin);
  return { login, pinFlag, config: { modulePath, token: { label }, pin: { file: pinFile }, profile } };
}

describe('a module that read the token before its user PIN was set', () => {
  it('is initialised again under the softhsm2 profile, and the backend opens', async () => {
    const { login, pinFlag, config } = staleToken('softhsm2', true);
    // The state that start-up meets: every login refused, the token's flags say otherwise.
    expect(login).toBe('CKR_USER_PIN_NOT_INITIALIZED');
    expect(pinFlag).toBe(true);
    const backend = await openPkcs11Backend(config);
    try {
      expect((await backend.health()).ok).toBe(true);
      const material = await backend.generateKeyMaterial('SYMMETRIC_DEFAULT');
      expect(material.wrapped.length).toBeGreaterThan(0);
    } finally {
      await backend.close();
    }
  });

  it('is not initialised again where the profile does not say so', async () => {
    const { login, config } = staleToken('generic', true);
    expect(login).toBe('CKR_USER_PIN_NOT_INITIALIZED');
    await expect(openPkcs11Backend(config)).rejects.toThrow(/C_Login failed: CKR_USER_PIN_NOT_INITIALIZED/);
  });

  it('a token whose user PIN really is not set is refused at once, with the code', async () => {
    const { login, pinFlag, config } = staleToken('softhsm2', false);
    expect(login).toBe('CKR_USER_PIN_NOT_INITIALIZED');
    expect(pinFlag).toBe(false);
    await expect(openPkcs11Backend(config)).rejects.toThrow(/C_Login failed: CKR_USER_PIN_NOT_INITIALIZED/);
  });
});
