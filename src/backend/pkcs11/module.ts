/**
 * Loading a PKCS#11 module, choosing the token, logging in. Synchronous on purpose (but for the
 * pause between login attempts): this runs at start-up and in the CLI, never on the request path.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pkcs11js from 'pkcs11js';
import type { Handle, PKCS11 } from 'pkcs11js';
import { ConfigError, type HsmConfig } from '../../config/hsm.js';
import { ckrName, toHsmError } from './errors.js';
import type { HsmProfile } from './profiles.js';

const P = pkcs11js;

/**
 * Loads the module and calls C_Initialize with OS locking. CKR_CRYPTOKI_ALREADY_INITIALIZED is
 * success: another part of this process (the TLS engine, a second backend) got there first, and
 * the module stays initialised for all of them. That is also why nothing here calls C_Finalize.
 */
export function loadModule(modulePath: string): PKCS11 {
  const module = new P.PKCS11();
  try {
    module.load(modulePath);
  } catch (e) {
    throw new ConfigError(`Cannot load the PKCS#11 module ${modulePath}: ${(e as Error).message}`);
  }
  initialize(module);
  return module;
}

function initialize(module: PKCS11): void {
  try {
    module.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (code !== P.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw toHsmError(e, 'C_Initialize');
  }
}

const trim = (s: string) => s.replace(/[\s\0]+$/, '');

/**
 * Finds the slot holding the token named by label and/or serial. A module's refusal comes out as
 * an HsmError with the code and the function, so that {@link findTokenSlotWithRetries} can tell
 * a transient one.
 */
export function findTokenSlot(module: PKCS11, token: HsmConfig['token']): Handle {
  if (!token.label && !token.serial) throw new ConfigError('Name the token by label or serial number.');
  const seen: string[] = [];
  const matches: Handle[] = [];
  let slots: Handle[];
  try {
    slots = module.C_GetSlotList(true);
  } catch (e) {
    throw toHsmError(e, 'C_GetSlotList');
  }
  for (const slot of slots) {
    let info: ReturnType<PKCS11['C_GetTokenInfo']>;
    try {
      info = module.C_GetTokenInfo(slot);
    } catch (e) {
      throw toHsmError(e, 'C_GetTokenInfo');
    }
    const label = trim(info.label);
    const serial = trim(info.serialNumber);
    seen.push(`"${label}" (serial ${serial})`);
    if ((token.label === undefined || token.label === label) && (token.serial === undefined || token.serial === serial)) matches.push(slot);
  }
  const wanted = [token.label && `label "${token.label}"`, token.serial && `serial ${token.serial}`].filter(Boolean).join(' and ');
  if (matches.length === 0)
    throw new ConfigError(`No token with ${wanted} is present. Tokens found: ${seen.length ? seen.join(', ') : 'none'}.`);
  if (matches.length > 1) throw new ConfigError(`Several tokens have ${wanted}; name the token by serial number too.`);
  return matches[0]!;
}

/** Opens a read/write session. */
export function openSession(module: PKCS11, slot: Handle): Handle {
  try {
    return module.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
  } catch (e) {
    throw toHsmError(e, 'C_OpenSession');
  }
}

/**
 * Logs the normal user in. Login state belongs to the application, not the session, so
 * CKR_USER_ALREADY_LOGGED_IN means another session (or another backend in this process) did it.
 * The PIN is passed straight through and never appears in an error.
 */
export function login(module: PKCS11, session: Handle, pin: string, pinHint: string): void {
  try {
    module.C_Login(session, P.CKU_USER, pin);
  } catch (e) {
    const code = (e as { code?: number }).code ?? 0;
    if (code === P.CKR_USER_ALREADY_LOGGED_IN) return;
    if (code === P.CKR_PIN_INCORRECT || code === P.CKR_PIN_LEN_RANGE)
      throw new ConfigError(`The token rejected the PIN (${ckrName(code)}); check that the PIN source holds ${pinHint}.`);
    if (code === P.CKR_PIN_LOCKED) throw new ConfigError('The token user PIN is locked; the security officer must reset it.');
    throw toHsmError(e, 'C_Login');
  }
}

/** Pauses before the 2nd … 6th attempt: 1.2 s in all, long enough for another process's login. */
const TRANSIENT_PAUSES_MS = [25, 50, 100, 250, 750];

/**
 * Runs a start-up step (a login, finding the token, finding or creating the token's own keys), and
 * runs it again after a pause while it fails with one of the profile's `transientCodes` (a race
 * with another process on the same token), at most six times in all. Such steps happen at start-up,
 * in recovery, and when a process first opens a token-backed custom key store (see
 * {@link findTokenSlotWithRetries}); never because of what a request holds.
 */
export async function retryTransient<T>(profile: HsmProfile, attempt: () => T | Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const pause = TRANSIENT_PAUSES_MS[tries];
      if (pause === undefined || typeof code !== 'string' || !profile.transientCodes.includes(code)) throw e;
      await sleep(pause);
    }
  }
}

/** How many times {@link openOwnerSession} finalises and initialises the module again. */
const REINITIALISATIONS = 3;

/**
 * Opens the session that owns the login (the backend's owner session) on the token and logs the
 * user in, with {@link retryTransient}.
 *
 * SoftHSM2 reads a token's PIN blobs once, when C_Initialize builds its slots. If another process
 * was rewriting token.object at that moment (SoftHSM2 rewrites it on every login: workers or nodes
 * starting together on one token), this process's copy of the token has no user PIN, and every
 * C_Login fails with CKR_USER_PIN_NOT_INITIALIZED for as long as the module stays initialised,
 * while C_GetTokenInfo, which reads the file afresh, says the PIN is set. Under a profile with
 * `reinitializeOnStalePin`, that contradiction makes this finalise and initialise the module again
 * (which reads the blobs again) and start over, at most three times. It happens only at start-up,
 * before this process has logged in (a logged-in application gets CKR_USER_ALREADY_LOGGED_IN
 * first), so no login of another part of this process is lost.
 */
export async function openOwnerSession(
  module: PKCS11,
  token: HsmConfig['token'],
  pin: string,
  profile: HsmProfile,
): Promise<{ slot: Handle; session: Handle }> {
  for (let reinitialised = 0; ; reinitialised++) {
    const slot = await findTokenSlotWithRetries(module, token, profile);
    const session = openSession(module, slot);
    try {
      await retryTransient(profile, () => login(module, session, pin, profile.pinHint));
      return { slot, session };
    } catch (e) {
      closeQuietly(module, session);
      if (reinitialised === REINITIALISATIONS || !profile.reinitializeOnStalePin || !staleUserPin(module, slot, e)) throw e;
      try {
        module.C_Finalize();
      } catch {
        /* not initialised after all: C_Initialize below decides */
      }
      await sleep(TRANSIENT_PAUSES_MS[reinitialised] ?? 0);
      initialize(module);
    }
  }
}

/**
 * {@link findTokenSlot}, tried again like a login while the module fails with one of the profile's
 * transient codes: SoftHSM2's C_GetTokenInfo reads the token's files afresh and returns
 * CKR_GENERAL_ERROR while another process (a worker or node starting on the same token) is
 * rewriting them. Where a token is opened: at start-up, and once per process for a token-backed
 * custom key store (ConnectCustomKeyStore, or the first request of a process that finds the store
 * connected, key-stores/connections.ts) — never again for a connection that is open, and at most
 * six tries ({@link retryTransient}), so a caller's request can wait at most 1.2 s more on it.
 */
export function findTokenSlotWithRetries(module: PKCS11, token: HsmConfig['token'], profile: HsmProfile): Promise<Handle> {
  return retryTransient(profile, () => findTokenSlot(module, token));
}

/** A login refused for want of a user PIN that the token's own flags say is set (see {@link openOwnerSession}). */
export function staleUserPin(module: PKCS11, slot: Handle, error: unknown): boolean {
  if ((error as { code?: unknown }).code !== 'CKR_USER_PIN_NOT_INITIALIZED') return false;
  try {
    return (module.C_GetTokenInfo(slot).flags & P.CKF_USER_PIN_INITIALIZED) !== 0;
  } catch {
    return false;
  }
}

/** Closes a session, ignoring errors: it may already be gone. */
export function closeQuietly(module: PKCS11, session: Handle): void {
  try {
    module.C_CloseSession(session);
  } catch {
    /* already closed or invalid: nothing to do */
  }
}
