/**
 * The GrantToken CreateGrant returns and every grant-aware call accepts in `GrantTokens`: the
 * one module that writes and parses it.
 *
 * Version 1, as text: base64url (no padding) of one clear version byte `0x01`, then the
 * backend's `sealSecret` output (AES-GCM under a key that never leaves the HSM) of the payload
 * `0x01 ‖ u8 grant-id length ‖ grant id ‖ u8 key-id length ‖ key id` (strings UTF-8).
 * The version is repeated inside the sealed payload so the clear byte is authenticated too.
 * Sealing draws a fresh IV each time, so every CreateGrant returns a different token (as AWS
 * does) and all tokens of one grant are interchangeable. Garbage, another version, or any
 * altered character → InvalidGrantTokenException.
 *
 * A token names a grant; it is not a bearer credential: the grant still applies only to its
 * grantee, and only while it exists.
 */
import { KmsError } from '../errors.js';
import type { KeyBackend } from '../ports.js';
import { lengthPrefixed, readPrefixed, unsealOrInvalid } from '../sealed-fields.js';

export const GRANT_TOKEN_VERSION = 1;

/** AWS's limit on a grant token's length (characters). */
export const MAX_GRANT_TOKEN_LENGTH = 8192;

export interface GrantTokenClaims {
  grantId: string;
  keyId: string;
}

/** Seals the claims into a token string. */
export async function writeGrantToken(backend: Pick<KeyBackend, 'sealSecret'>, claims: GrantTokenClaims): Promise<string> {
  const payload = Buffer.concat([Buffer.from([GRANT_TOKEN_VERSION]), lengthPrefixed(claims.grantId), lengthPrefixed(claims.keyId)]);
  const sealed = await backend.sealSecret(payload);
  return Buffer.concat([Buffer.from([GRANT_TOKEN_VERSION]), sealed]).toString('base64url');
}

/**
 * Opens a token. Anything that is not a token this service wrote → InvalidGrantTokenException;
 * an HSM fault other than a data error propagates (it is not the caller's fault).
 */
export async function readGrantToken(backend: Pick<KeyBackend, 'unsealSecret'>, token: string): Promise<GrantTokenClaims> {
  return parsePayload(await unsealOrInvalid(backend, grantTokenEnvelope(token), invalidGrantToken));
}

/** The sealed part of a token, after checking its alphabet, length and clear version byte. */
export function grantTokenEnvelope(token: string): Buffer {
  // Node's base64url decoder skips characters outside the alphabet; check them first.
  if (typeof token !== 'string' || token.length < 4 || token.length > MAX_GRANT_TOKEN_LENGTH || !isBase64Url(token))
    throw invalidGrantToken();
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length < 2 || bytes[0] !== GRANT_TOKEN_VERSION) throw invalidGrantToken();
  return bytes.subarray(1);
}

function parsePayload(payload: Buffer): GrantTokenClaims {
  if (payload[0] !== GRANT_TOKEN_VERSION) throw invalidGrantToken();
  const grantId = readPrefixed(payload, 1, invalidGrantToken);
  const keyId = readPrefixed(payload, grantId.next, invalidGrantToken);
  if (keyId.next !== payload.length) throw invalidGrantToken();
  return { grantId: grantId.value, keyId: keyId.value };
}

function isBase64Url(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
    if (!ok) return false;
  }
  return true;
}

/** AWS's exception and wording for a token that is not valid. */
export function invalidGrantToken(): KmsError {
  return new KmsError('InvalidGrantTokenException', 'The grant token is not valid.');
}
