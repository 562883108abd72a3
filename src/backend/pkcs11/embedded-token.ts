/**
 * The development default: a SoftHSM2 token inside hsmkms's data directory, created on first
 * start, with generated PINs in files only the owner can read. Production points hsmkms at a real
 * HSM instead (module path, token, PIN source).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pkcs11js from 'pkcs11js';
import type { Handle } from 'pkcs11js';
import { ConfigError, readPin } from '../../config/hsm.js';
import { toHsmError } from './errors.js';
import type { Pkcs11BackendConfig } from './index.js';
import { closeQuietly, loadModule } from './module.js';

const P = pkcs11js;

/** Where Debian installs SoftHSM2's PKCS#11 module. */
export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
/** Label of the embedded token. */
export const EMBEDDED_TOKEN_LABEL = 'hsmkms';

const trim = (s: string) => s.replace(/[\s\0]+$/, '');

/** Writes a secret file with mode 0600 from the first byte (no window where it is readable). */
function writeSecretFile(path: string, value: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, value, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * Makes sure the embedded SoftHSM2 token exists in `dataDir` and returns the backend
 * configuration for it. `modulePath` is SoftHSM2's PKCS#11 library (Debian's path unless given).
 *
 * **Sets `process.env.SOFTHSM2_CONF`.** SoftHSM2 reads that variable once, in C_Initialize, so
 * this must run before anything in this process loads the SoftHSM2 module (the backend, the
 * TLS engine). If the module was already initialised with another configuration, the token
 * will not be found and this throws.
 */
export async function ensureEmbeddedToken(
  dataDir: string,
  onProgress: (msg: string) => void = () => {},
  modulePath: string = SOFTHSM2_MODULE,
): Promise<Pkcs11BackendConfig> {
  // Before anything is written: a missing SoftHSM2 leaves no half-made data directory behind.
  if (!existsSync(modulePath))
    throw new ConfigError(
      `SoftHSM2 is not installed (${modulePath} is missing), and the embedded token needs it. Install it as root ` +
        '(sudo apt-get install softhsm2; in a checkout, `npm install` run as root does it), or give your HSM with --module or --hsm.',
    );
  const dir = resolve(dataDir);
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  if (!existsSync(conf)) {
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
    onProgress(`Created SoftHSM2 configuration ${conf}`);
  }
  process.env.SOFTHSM2_CONF = conf;
  const userPinFile = join(dir, 'user.pin');
  const soPinFile = join(dir, 'so.pin');
  const config: Pkcs11BackendConfig = {
    modulePath,
    token: { label: EMBEDDED_TOKEN_LABEL },
    pin: { file: userPinFile },
    soPin: { file: soPinFile },
    profile: 'softhsm2',
  };
  const module = loadModule(modulePath);
  const present = module.C_GetSlotList(true).some((slot) => trim(module.C_GetTokenInfo(slot).label) === EMBEDDED_TOKEN_LABEL);
  if (present) {
    if (!existsSync(userPinFile)) throw new ConfigError(`The embedded token exists but its PIN file ${userPinFile} is missing.`);
    return config;
  }
  onProgress(`Initialising the embedded SoftHSM2 token "${EMBEDDED_TOKEN_LABEL}" in ${tokens} …`);
  if (!existsSync(userPinFile)) writeSecretFile(userPinFile, randomBytes(16).toString('hex'));
  if (!existsSync(soPinFile)) writeSecretFile(soPinFile, randomBytes(16).toString('hex'));
  await initToken({ modulePath, label: EMBEDDED_TOKEN_LABEL, soPin: readPin({ file: soPinFile }), userPin: readPin({ file: userPinFile }) });
  onProgress(`Token ready; PINs stored in ${userPinFile} and ${soPinFile} (mode 0600, development use only).`);
  return config;
}

/** Where `hsmkms token init` keeps the user PIN of an extra embedded token (mode 0600). */
export function embeddedTokenPinFile(dataDir: string, label: string): string {
  return join(resolve(dataDir), `${label.replace(/[^A-Za-z0-9_.-]/g, '_')}.pin`);
}

/** What {@link initToken} needs. PINs are values here: read them from a PinSource, never argv. */
export interface InitTokenOptions {
  modulePath: string;
  /** The slot to initialise; default: the first slot whose token is not initialised. */
  slotId?: number;
  label: string;
  soPin: string;
  userPin: string;
}

function slotNumber(slot: Handle): number {
  return slot.length >= 8 ? Number(slot.readBigUInt64LE()) : slot.readUInt32LE();
}

/**
 * Initialises a token through PKCS#11 itself: C_InitToken with the SO PIN, then an SO login and
 * C_InitPIN for the user PIN, so no PIN appears on a command line. Returns the token's serial.
 */
export async function initToken(options: InitTokenOptions): Promise<{ slotId: number; serial: string }> {
  const module = loadModule(options.modulePath);
  const slots = module.C_GetSlotList(true);
  const slot =
    options.slotId !== undefined
      ? slots.find((s) => slotNumber(s) === options.slotId)
      : slots.find((s) => (module.C_GetTokenInfo(s).flags & P.CKF_TOKEN_INITIALIZED) === 0);
  if (!slot)
    throw new ConfigError(options.slotId !== undefined ? `No slot ${options.slotId} with a token present.` : 'No slot with an uninitialised token is free.');
  if (options.label.length === 0 || Buffer.byteLength(options.label) > 32) throw new ConfigError('A token label is 1 to 32 bytes.');
  try {
    module.C_InitToken(slot, options.soPin, options.label.padEnd(32, ' '));
  } catch (e) {
    throw toHsmError(e, 'C_InitToken');
  }
  const initialised = slot;
  const session = module.C_OpenSession(initialised, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  try {
    module.C_Login(session, P.CKU_SO, options.soPin);
    module.C_InitPIN(session, options.userPin);
    module.C_Logout(session);
  } catch (e) {
    throw toHsmError(e, 'C_InitPIN');
  } finally {
    closeQuietly(module, session);
  }
  const info = module.C_GetTokenInfo(initialised);
  return { slotId: slotNumber(initialised), serial: trim(info.serialNumber) };
}
