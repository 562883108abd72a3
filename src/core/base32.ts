/**
 * Random identifiers in RFC 4648 base-32 letters (A–Z, 2–7), the alphabet of AWS's access key
 * ids (`AKIA…`), IAM unique ids (`AIDA…`) and XKS proxy access key ids.
 */
import { randomBytes } from 'node:crypto';

/** RFC 4648's base-32 alphabet. */
export const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `length` characters of {@link BASE32_ALPHABET}, 5 random bits each (a byte's low five bits: uniform). */
export function randomBase32(length: number): string {
  let out = '';
  for (const byte of randomBytes(length)) out += BASE32_ALPHABET[byte & 31];
  return out;
}
