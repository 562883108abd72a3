/**
 * The encryption context in its one canonical byte form. Clients may send the same map with
 * its keys in any order, so the bytes authenticated as GCM AAD must not depend on that order.
 *
 * Format (all lengths big-endian): u16 pair count, then for each pair sorted by the UTF-8 bytes
 * of its key: u16 key length, key, u16 value length, value. Length prefixes make the encoding
 * unambiguous (`{"a":"bc"}` and `{"ab":"c"}` differ).
 */
import { KmsError } from './errors.js';

/** The encryption context as it travels on the wire: a string→string map. */
export type EncryptionContext = Readonly<Record<string, string>>;

/** AWS caps the encryption context's total size; 8 KiB of UTF-8 is generous and bounds the AAD. */
export const MAX_ENCRYPTION_CONTEXT_BYTES = 8192;

/**
 * Canonical bytes for `context`. Throws ValidationException for a context that is too large,
 * has an empty key (AWS rejects both) or holds ill-formed UTF-16.
 */
export function canonicalEncryptionContext(context: EncryptionContext): Buffer {
  // UTF-8 encoding turns every unpaired surrogate into U+FFFD: "\ud800" and "\udbff" would
  // become the same bytes, so one context would authenticate as another.
  const keys = Object.keys(context);
  for (const k of keys)
    if (!k.isWellFormed() || !context[k]!.isWellFormed())
      throw new KmsError('ValidationException', 'Encryption context keys and values must be well-formed Unicode (no unpaired surrogates).');
  let content = 0;
  for (const k of keys) {
    const v = context[k]!;
    if (k.length === 0) throw new KmsError('ValidationException', 'Encryption context keys must not be empty.');
    content += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
  }
  // The cap also keeps every length and the count within their u16 fields.
  if (content > MAX_ENCRYPTION_CONTEXT_BYTES) throw tooLarge();
  // Sorted by UTF-8 bytes without encoding each key first: for well-formed strings, UTF-8 byte
  // order is code point order (utf8Order).
  keys.sort(utf8Order);
  const out = Buffer.alloc(2 + 4 * keys.length + content);
  let at = out.writeUInt16BE(keys.length, 0);
  for (const k of keys) {
    const v = context[k]!;
    at = out.writeUInt16BE(Buffer.byteLength(k, 'utf8'), at);
    at += out.write(k, at, 'utf8');
    at = out.writeUInt16BE(Buffer.byteLength(v, 'utf8'), at);
    at += out.write(v, at, 'utf8');
  }
  return out;
}

/**
 * Compares two well-formed strings as their UTF-8 bytes compare (code point order). UTF-16 code
 * units sort otherwise only where a surrogate (U+D800–DFFF, the half of a code point above
 * U+FFFF) meets a unit of U+E000–FFFF: the surrogate's code point is the larger.
 */
function utf8Order(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

const codePointRank = (unit: number): number => (unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit);

function tooLarge(): KmsError {
  return new KmsError(
    'ValidationException',
    `The encryption context is too large: at most ${MAX_ENCRYPTION_CONTEXT_BYTES} bytes of keys and values are allowed.`,
  );
}

/**
 * The condition keys a policy can test for this context: `kms:EncryptionContext:<key>` for
 * each pair and `kms:EncryptionContextKeys` listing the keys.
 */
export function encryptionContextConditions(context: EncryptionContext): Record<string, string | string[]> {
  const conditions: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(context)) conditions[`kms:EncryptionContext:${k}`] = v;
  conditions['kms:EncryptionContextKeys'] = Object.keys(context);
  return conditions;
}
