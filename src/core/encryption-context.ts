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
  for (const [k, v] of Object.entries(context))
    if (!k.isWellFormed() || !v.isWellFormed())
      throw new KmsError('ValidationException', 'Encryption context keys and values must be well-formed Unicode (no unpaired surrogates).');
  const pairs = Object.entries(context).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  let content = 0;
  for (const [k, v] of pairs) {
    if (k.length === 0) throw new KmsError('ValidationException', 'Encryption context keys must not be empty.');
    content += k.length + v.length;
  }
  // The cap also keeps every length and the count within their u16 fields.
  if (content > MAX_ENCRYPTION_CONTEXT_BYTES) throw tooLarge();
  const size = 2 + 4 * pairs.length + content;
  const out = Buffer.alloc(size);
  let at = out.writeUInt16BE(pairs.length, 0);
  for (const [k, v] of pairs) {
    at = out.writeUInt16BE(k.length, at);
    at += k.copy(out, at);
    at = out.writeUInt16BE(v.length, at);
    at += v.copy(out, at);
  }
  return out;
}

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
