/**
 * Certificate serial numbers: 16 bytes from the CSPRNG with the top bits set to 01, so every
 * serial is positive, exactly 16 octets in DER (no sign padding, no leading zero) and carries
 * 126 random bits (the CA/Browser Forum asks for at least 64). Stored and shown as lowercase hex.
 */
import { randomFillSync } from 'node:crypto';
import { CaError } from './errors.js';

/**
 * CSPRNG output drawn 4 KiB at a time and handed out 16 bytes per serial, each byte once (as
 * Node's randomUUID does): one call into OpenSSL per 256 serials instead of one per serial.
 */
const pool = Buffer.alloc(4096);
let drawn = pool.length;

export function newSerial(): string {
  if (drawn + 16 > pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  const bytes = Buffer.from(pool.subarray(drawn, drawn + 16));
  pool.fill(0, drawn, drawn + 16);
  drawn += 16;
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/** Hex digits, optionally in colon-separated pairs (as `openssl x509 -text` prints them). */
const SERIAL_TEXT = /^(?:0x)?[0-9a-f]{1,40}$/;

/**
 * The canonical form of a serial a person typed: hex with or without colons or a 0x prefix,
 * any case (`openssl x509 -serial` and `-text` both work). Leading zero octets are dropped.
 */
export function parseSerial(input: string): string {
  const text = input.trim().toLowerCase().replaceAll(':', '');
  if (input.length > 80 || !SERIAL_TEXT.test(text))
    throw new CaError('InvalidArgsException', `'${input.slice(0, 80)}' is not a serial number: give it in hex, e.g. 4f3a…, as \`hsmkms ca list\` prints it.`);
  return canonicalSerial(text.replace(/^0x/, ''));
}

/** Lowercase hex of the integer, an even number of digits, no leading zero octets. */
export function canonicalSerial(hex: string): string {
  let digits = hex.toLowerCase().replace(/^0+/, '');
  if (digits === '') digits = '0';
  return digits.length % 2 === 0 ? digits : `0${digits}`;
}
