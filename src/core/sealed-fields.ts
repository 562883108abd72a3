/**
 * Pieces the HSM-sealed token formats share (the import token, the grant token): opening a
 * sealed payload, where anything that is not one of ours becomes the format's own client error,
 * and the length-prefixed UTF-8 fields inside it.
 */
import { BackendError, type KmsError } from './errors.js';
import type { KeyBackend } from './ports.js';

/**
 * Unseals `sealed`; a data error (altered bytes, or a seal key this HSM does not hold: not one of
 * our tokens) becomes `invalid()`. Other backend faults are not the caller's and propagate.
 */
export async function unsealOrInvalid(backend: Pick<KeyBackend, 'unsealSecret'>, sealed: Uint8Array, invalid: () => KmsError): Promise<Buffer> {
  try {
    return await backend.unsealSecret(sealed);
  } catch (err) {
    if (err instanceof BackendError && err.kind !== 'data') throw err;
    throw invalid();
  }
}

/** `u8 length ‖ UTF-8 bytes`, 1–255 bytes (our own values only: a longer one is a bug). */
export function lengthPrefixed(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < 1 || bytes.length > 255) throw new RangeError('sealed token fields must be 1–255 bytes');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** Reads a {@link lengthPrefixed} field at `at`; a missing or empty one is `invalid()`. */
export function readPrefixed(buf: Buffer, at: number, invalid: () => KmsError): { value: string; next: number } {
  const length = buf[at];
  if (length === undefined || length === 0 || at + 1 + length > buf.length) throw invalid();
  return { value: buf.toString('utf8', at + 1, at + 1 + length), next: at + 1 + length };
}
