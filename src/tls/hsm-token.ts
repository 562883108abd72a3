/**
 * Opening the configured token for TLS and naming keys in it. The PIN is read from its source
 * (file or environment) and handed to the addon in memory: never in argv, never in a URI.
 */
import { readPin, type HsmConfig } from '../config/hsm.js';
import { toHsmTlsError } from './errors.js';
import { loadAddon } from './native-addon.js';

/**
 * Logs in to the token now, so that a wrong PIN or a missing token fails at start-up rather
 * than on the first handshake. Idempotent: the addon keeps one session per token.
 */
export function openTlsToken(hsm: HsmConfig): void {
  const addon = loadAddon();
  try {
    const pin = readPin(hsm.pin);
    addon.openToken({ modulePath: hsm.modulePath, tokenLabel: hsm.token.label, tokenSerial: hsm.token.serial, pin });
  } catch (error) {
    throw toHsmTlsError(error, `Cannot open the HSM token ${describeToken(hsm)}`);
  }
}

/**
 * The key URI with the configured token named in it (`token=`/`serial=` are added when the
 * URI has neither), so that it resolves to this token even when several are open.
 */
export function qualifyKeyUri(hsm: HsmConfig, keyUri: string): string {
  if (!keyUri.startsWith('pkcs11:')) return keyUri;  // the addon reports the malformed URI
  const [path = '', query] = keyUri.slice('pkcs11:'.length).split('?', 2);
  const names = path.split(';').map((attribute) => attribute.split('=')[0]);
  if (names.includes('token') || names.includes('serial')) return keyUri;
  const added: string[] = [];
  if (hsm.token.label) added.push(`token=${encodeAttribute(hsm.token.label)}`);
  if (hsm.token.serial) added.push(`serial=${encodeAttribute(hsm.token.serial)}`);
  const joined = [...added, ...(path ? [path] : [])].join(';');
  return `pkcs11:${joined}${query !== undefined ? `?${query}` : ''}`;
}

/** RFC 7512 percent-encoding of an attribute value (everything outside the unreserved set). */
export function encodeAttribute(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function describeToken(hsm: HsmConfig): string {
  const name = hsm.token.label ? `"${hsm.token.label}"` : `serial ${hsm.token.serial ?? '?'}`;
  return `${name} (module ${hsm.modulePath})`;
}
