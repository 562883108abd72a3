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
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, describe, expect, it } from 'vitest';
import { openPkcs11Backend } from '../../../src/backend/pkcs11/index.js';
import { loadModule } from '../../../src/backend/pkcs11/module.js';
import type { HsmProfileName } from '../../../src/config/hsm.js';
import { env } from './helpers.js';

const P = pkcs11js;
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-stale-pin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Sets a token's user PIN from another process (PINs through the environment, not argv). */
const SET_USER_PIN = `
const P = require('pkcs11js');
const m = new P.PKCS11();
m.load(process.env.MODULE);
m.C_Initialize();
const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === process.env.LABEL);
const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
m.C_Login(s, P.CKU_SO, process.env.SO_PIN);
m.C_InitPIN(s, process.env.USER_PIN);
m.C_Logout(s);
m.C_CloseSession(s);
m.C_Finalize();
`;

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'CKR_OK';
  } catch (e) {
    const code = (e as { code?: number }).code ?? -1;
    return Object.keys(P).find((k) => k.startsWith('CKR_') && (P as unknown as Record<string, number>)[k] === code) ?? String(code);
  }
};

/**
 * A token initialised in this process, its user PIN set by another process (`setPin`) or not at
 * all. Returns the backend configuration and what a plain C_Login in this process says now.
 */
function staleToken(profile: HsmProfileName, setPin: boolean) {
  const modulePath = env('HSMKMS_TEST_MODULE');
  const label = `stale-${randomBytes(4).toString('hex')}`;
  const soPin = randomBytes(8).toString('hex');
  const userPin = randomBytes(8).toString('hex');
  const m = loadModule(modulePath);
  const slot = m.C_GetSlotList(true).find((s) => (m.C_GetTokenInfo(s).flags & P.CKF_TOKEN_INITIALIZED) === 0);
  if (!slot) throw new Error('no free slot');
  m.C_InitToken(slot, soPin, label.padEnd(32, ' '));
  if (setPin) {
    execFileSync(process.execPath, ['-e', SET_USER_PIN], {
      cwd: process.cwd(),
      env: { ...process.env, MODULE: modulePath, LABEL: label, SO_PIN: soPin, USER_PIN: userPin },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const pinFile = join(dir, label);
  writeFileSync(pinFile, userPin, { mode: 0o600 });
  const session = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  const login = codeOf(() => m.C_Login(session, P.CKU_USER, userPin));
  const pinFlag = (m.C_GetTokenInfo(slot).flags & P.CKF_USER_PIN_INITIALIZED) !== 0;
  m.C_CloseSession(session);
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
