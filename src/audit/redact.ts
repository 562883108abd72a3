/**
 * The audit trail's last line of defence: whatever the caller passes as request parameters,
 * nothing that looks like plaintext, key material or a secret is written. The dispatcher
 * already drops these at the top level; this drops them at any depth, and drops binary values
 * altogether (a byte string in an audit record is either secret or useless).
 */

/** Member names (as on the AWS wire) that are never written, at any depth. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'Plaintext',
  'CiphertextBlob',
  'SourceCiphertextBlob',
  'CiphertextForRecipient',
  'EncryptedKeyMaterial',
  'KeyMaterial',
  'ImportToken',
  'PrivateKey',
  'PrivateKeyPlaintext',
  'PrivateKeyCiphertextBlob',
  'Message',
  'Signature',
  'Mac',
  'SecretAccessKey',
  'SessionToken',
  'GrantTokens',
  'Recipient',
]);

/** Any member whose name says it is secret, whatever its spelling (`secretAccessKey`, `userPin`, `password`). */
const SECRET_NAME = /secret|password|passphrase|plaintext|private.?key|pin$/i;

/** Deeper structures than this are cut: request parameters are shallow, and recursion must end. */
const MAX_DEPTH = 8;

export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name) || SECRET_NAME.test(name);
}

/**
 * A JSON-safe copy of `value` without secret members, binary values, functions or cycles.
 * Returns `undefined` for a value that must be dropped entirely.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return undefined;
  if (typeof value !== 'object' || depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    return value.map((item) => redactSecrets(item, depth + 1)).filter((item) => item !== undefined);
  }
  const out: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(value)) {
    if (isSecretField(name)) continue;
    const clean = redactSecrets(member, depth + 1);
    if (clean !== undefined) out[name] = clean;
  }
  return out;
}
