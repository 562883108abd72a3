/**
 * Opening the configured token for TLS and naming keys in it. The PIN is read from its source
 * (file or environment) and handed to the addon in memory: never in argv, never in a URI.
 */
import type { Server as TlsServer } from 'node:tls';
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from '../backend/pkcs11/uri.js';
import { DEFAULT_HSM_CALL_TIMEOUT_MS, readPin, type HsmConfig } from '../config/hsm.js';
import { HsmTlsError, hsmHandshakeFailure, toHsmTlsError } from './errors.js';
import { loadAddon } from '../native/addon.js';

/**
 * Logs in to the token now, so that a wrong PIN or a missing token fails at start-up rather
 * than on the first handshake. Idempotent: the addon keeps one session per token. A handshake's
 * signature waits at most the HSM call timeout (`hsm.callTimeoutMs`), then the handshake fails.
 */
export function openTlsToken(hsm: HsmConfig): void {
  const addon = loadAddon();
  try {
    const pin = readPin(hsm.pin);
    const callTimeoutMs = hsm.callTimeoutMs ?? DEFAULT_HSM_CALL_TIMEOUT_MS;
    addon.openToken({ modulePath: hsm.modulePath, tokenLabel: hsm.token.label, tokenSerial: hsm.token.serial, pin, callTimeoutMs });
  } catch (error) {
    throw toHsmTlsError(error, `Cannot open the HSM token ${describeToken(hsm)}`);
  }
}

/** How often {@link followPin} reads a PIN source again, and at most how often a failed handshake makes it. */
const PIN_CHECK_MS = 5_000;
const PIN_CHECK_AFTER_FAILURE_MS = 1_000;

/**
 * Keeps the addon's copy of the PIN current where its source can be read again (`reread`: a PIN
 * in a regular file, held by src/cli/serve-pins.ts): read again every few seconds, and after a
 * handshake the HSM did not sign (at most once a second), and handed to the addon when it changed.
 * The addon's next login — once the HSM lost the login — then uses a password rotated in the file
 * rather than the one read at start, which the HSM would refuse (and never be sent again). A
 * session still logged in keeps its login; without one the addon logs in with the new PIN at once.
 * Nothing for a source that cannot be read again. Returns what stops it.
 */
export function followPin(hsm: HsmConfig, server: TlsServer): () => void {
  const source = hsm.pin;
  if (!('reread' in source) || !source.reread) return () => {};
  const reread = source.reread;
  let current = source.value;
  let checking = false;
  let lastCheck = 0;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    lastCheck = Date.now();
    try {
      const pin = await reread();
      if (pin === current) return;
      current = pin;
      // Kept by the addon even when this login fails (the token away): its next login uses it.
      openTlsToken({ ...hsm, pin: { value: pin } });
    } catch {
      // The file unreadable for now, or the login failing: the next check or handshake tries again.
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), PIN_CHECK_MS);
  timer.unref();
  const onFailure = (error: unknown): void => {
    if (hsmHandshakeFailure(error) && Date.now() - lastCheck >= PIN_CHECK_AFTER_FAILURE_MS) void check();
  };
  server.on('tlsClientError', onFailure);
  return () => {
    clearInterval(timer);
    server.off('tlsClientError', onFailure);
  };
}

/**
 * Ends the object handles the TLS engine keeps for tokens of this module: to be called when
 * another user of the module in this process lost its login (the login is the application's, so
 * a logout destroyed the engine's private session objects too). Nothing when TLS opened no token.
 */
export function forgetTlsObjects(modulePath: string): void {
  loadAddon().forgetObjects(modulePath);
}

/**
 * The key URI with the configured token named in it (`token=`/`serial=` are added when the
 * URI has neither), so that it resolves to this token even when several are open.
 */
export function qualifyKeyUri(hsm: HsmConfig, keyUri: string): string {
  let parsed: Pkcs11Uri;
  try {
    parsed = parsePkcs11Uri(keyUri);
  } catch (error) {
    throw new HsmTlsError('ERR_PKCS11_URI', (error as Error).message);
  }
  if (parsed.token !== undefined || parsed.serial !== undefined) return keyUri;
  return formatPkcs11Uri({ ...parsed, token: hsm.token.label, serial: hsm.token.serial });
}

/** The URI of a key in the configured token, by label and (when known) CKA_ID. */
export function keyUriFor(hsm: HsmConfig, label: string, id?: Buffer): string {
  return formatPkcs11Uri({ token: hsm.token.label, serial: hsm.token.serial, object: label, ...(id ? { id, type: 'private' as const } : {}) });
}

function describeToken(hsm: HsmConfig): string {
  const name = hsm.token.label ? `"${hsm.token.label}"` : `serial ${hsm.token.serial ?? '?'}`;
  return `${name} (module ${hsm.modulePath})`;
}
