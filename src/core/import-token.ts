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
import { KmsError } from './errors.js';
import type { KeyBackend } from './ports.js';
import { lengthPrefixed, readPrefixed, unsealOrInvalid } from './sealed-fields.js';

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
  return parsePayload(await unsealOrInvalid(backend, importTokenEnvelope(token), invalidToken));
}

/** The sealed part of a token after its clear version byte has been checked. */
export function importTokenEnvelope(token: Uint8Array): Buffer {
  if (token.length < 2 || token[0] !== IMPORT_TOKEN_VERSION) throw invalidToken();
  return Buffer.from(token.subarray(1));
}

function parsePayload(payload: Buffer): ImportTokenClaims {
  if (payload[0] !== IMPORT_TOKEN_VERSION) throw invalidToken();
  const tokenId = readPrefixed(payload, 1, invalidToken);
  const keyId = readPrefixed(payload, tokenId.next, invalidToken);
  if (keyId.next + 8 !== payload.length) throw invalidToken();
  const expiresAt = new Date(Number(payload.readBigUInt64BE(keyId.next)));
  return { tokenId: tokenId.value, keyId: keyId.value, expiresAt };
}

/** The error for a token that is not one of ours or has been altered. */
export function invalidToken(): KmsError {
  return new KmsError('InvalidImportTokenException', 'The import token is invalid or was not issued for this key.');
}
