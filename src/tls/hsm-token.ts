/**
 * Opening the configured token for TLS and naming keys in it. The PIN is read from its source
 * (file or environment) and handed to the addon in memory: never in argv, never in a URI.
 */
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from '../backend/pkcs11/uri.js';
import { DEFAULT_HSM_CALL_TIMEOUT_MS, readPin, type HsmConfig } from '../config/hsm.js';
import { HsmTlsError, toHsmTlsError } from './errors.js';
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
