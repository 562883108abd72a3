/**
 * A token whose user PIN this process's SoftHSM2 copy does not have, made for real: this process
 * initialises the token (so its copy has no user PIN) and a second process sets the user PIN. The
 * state a worker or node meets when it reads the token while another process rewrites it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { loadModule } from '../../../src/backend/pkcs11/module.js';
import { env } from './helpers.js';

const P = pkcs11js;

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
 * all, the PIN written to a file in `dir`. Also what a plain C_Login in this process says now, and
 * whether the token's flags say the user PIN is set.
 */
export function staleToken(dir: string, labelPrefix: string, setPin: boolean) {
  const modulePath = env('HSMKMS_TEST_MODULE');
  const label = `${labelPrefix}-${randomBytes(4).toString('hex')}`;
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
  return { modulePath, label, userPin, pinFile, login, pinFlag };
}
