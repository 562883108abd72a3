/**
 * The ImportToken GetParametersForImport returns and ImportKeyMaterial takes back: the one
 * module that writes and parses it.
 *
 * Version 1: one clear version byte `0x01`, then the backend's `sealSecret` output (AES-GCM under
 * a key that never leaves the HSM) of the payload
 * `0x01 ‖ u8 token-id length ‖ token id ‖ u8 key-id length ‖ key id ‖ u64 expiry (epoch ms)`
 * (strings UTF-8, integers big-endian).
 * The version is repeated inside the sealed payload so the clear byte is authenticated too.
 * Tampering anywhere makes the unseal fail → InvalidImportTokenException. The token is opaque
 * to clients and names an ImportTokenRecord, which holds the wrapping key.
 */
import { BackendError, KmsError } from './errors.js';
import type { KeyBackend } from './ports.js';

export const IMPORT_TOKEN_VERSION = 1;

/** What an import token names. */
export interface ImportTokenClaims {
  tokenId: string;
  keyId: string;
  /**
   * When the token stops being accepted. Carried in the token as well as in its record so an
   * expired token is recognised as expired even after the record has been cleaned up.
   */
  expiresAt: Date;
}

/** Seals the claims into an opaque token. */
export async function writeImportToken(backend: Pick<KeyBackend, 'sealSecret'>, claims: ImportTokenClaims): Promise<Buffer> {
  const tokenId = lengthPrefixed(claims.tokenId);
  const keyId = lengthPrefixed(claims.keyId);
  const expiresAt = Buffer.alloc(8);
  expiresAt.writeBigUInt64BE(BigInt(claims.expiresAt.getTime()));
  const sealed = await backend.sealSecret(Buffer.concat([Buffer.from([IMPORT_TOKEN_VERSION]), tokenId, keyId, expiresAt]));
  return Buffer.concat([Buffer.from([IMPORT_TOKEN_VERSION]), sealed]);
}

/**
 * Opens a token. Garbage, another version, or any altered byte → InvalidImportTokenException;
 * an HSM fault other than a data error propagates (it is not the caller's fault).
 */
export async function readImportToken(backend: Pick<KeyBackend, 'unsealSecret'>, token: Uint8Array): Promise<ImportTokenClaims> {
  const sealed = importTokenEnvelope(token);
  let payload: Buffer;
  try {
    payload = await backend.unsealSecret(sealed);
  } catch (err) {
    // A token that does not unseal (altered, or sealed by another HSM) is the caller's input.
    if (err instanceof BackendError && err.kind !== 'data') throw err;
    throw invalidToken();
  }
  return parsePayload(payload);
}

/** The sealed part of a token after its clear version byte has been checked. */
export function importTokenEnvelope(token: Uint8Array): Buffer {
  if (token.length < 2 || token[0] !== IMPORT_TOKEN_VERSION) throw invalidToken();
  return Buffer.from(token.subarray(1));
}

function parsePayload(payload: Buffer): ImportTokenClaims {
  if (payload[0] !== IMPORT_TOKEN_VERSION) throw invalidToken();
  const tokenId = readPrefixed(payload, 1);
  const keyId = readPrefixed(payload, tokenId.next);
  if (keyId.next + 8 !== payload.length) throw invalidToken();
  const expiresAt = new Date(Number(payload.readBigUInt64BE(keyId.next)));
  return { tokenId: tokenId.value, keyId: keyId.value, expiresAt };
}

function lengthPrefixed(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < 1 || bytes.length > 255) throw new RangeError('import token fields must be 1–255 bytes');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function readPrefixed(buf: Buffer, at: number): { value: string; next: number } {
  const length = buf[at];
  if (length === undefined || length === 0 || at + 1 + length > buf.length) throw invalidToken();
  return { value: buf.toString('utf8', at + 1, at + 1 + length), next: at + 1 + length };
}

/** The error for a token that is not one of ours or has been altered. */
export function invalidToken(): KmsError {
  return new KmsError('InvalidImportTokenException', 'The import token is invalid or was not issued for this key.');
}
