/**
 * The wrapped key material blob: the only form in which CMK material leaves the token.
 *
 * Layout (version 1):
 * ```
 * 0      version          0x01
 * 1      mechanism        0x01 = CKM_AES_KEY_WRAP_PAD (RFC 5649) under a domain key
 * 2      key spec         index into KEY_SPECS (plus WRAPPING_KEY_OFFSET for import wrapping keys,
 *                         KEY_AGREEMENT_OFFSET for KEY_AGREEMENT keys)
 * 3      id length n      1..64
 * 4..4+n domain key id    CKA_ID of the domain key that wrapped it
 * 4+n..  wrapped key      RFC 5649 output: ≥ 16 bytes, a multiple of 8
 * ```
 * The domain key id lets several domain keys coexist (rotation, or two processes racing to
 * create the first one) without ever guessing which key unwraps a blob.
 */
import { KEY_SPECS, type KeySpec } from '../../core/model.js';
import { hsmError } from './errors.js';

export const MATERIAL_BLOB_VERSION = 1;
export const MECHANISM_AES_KWP = 1;

/**
 * What the material may do once unwrapped: `cmk` the usage its family has (sign, decrypt, MAC,
 * AES-GCM), `key-agreement` ECDH only (CKA_DERIVE, never CKA_SIGN), `import-wrapping` unwrap only.
 * The blob fixes it, so no caller can unwrap a signing key for derivation or the reverse.
 */
export type MaterialPurpose = 'cmk' | 'key-agreement' | 'import-wrapping';

/** What a blob says about itself. */
export interface MaterialBlob {
  /** KMS key spec; `RSA_*` wrapping keys for import use `purpose: 'import-wrapping'`. */
  keySpec: KeySpec;
  purpose: MaterialPurpose;
  domainKeyId: Buffer;
  wrapped: Buffer;
}

const WRAPPING_KEY_OFFSET = 0x80;
const KEY_AGREEMENT_OFFSET = 0x40;
const PURPOSE_OFFSET: Readonly<Record<MaterialPurpose, number>> = { cmk: 0, 'key-agreement': KEY_AGREEMENT_OFFSET, 'import-wrapping': WRAPPING_KEY_OFFSET };

/** Serialises a blob. */
export function writeMaterialBlob(blob: MaterialBlob): Buffer {
  const index = KEY_SPECS.indexOf(blob.keySpec);
  if (index < 0) throw new TypeError(`unknown key spec ${blob.keySpec}`);
  if (blob.domainKeyId.length < 1 || blob.domainKeyId.length > 64) throw new TypeError('domain key id must be 1..64 bytes');
  const header = Buffer.from([
    MATERIAL_BLOB_VERSION,
    MECHANISM_AES_KWP,
    index + PURPOSE_OFFSET[blob.purpose],
    blob.domainKeyId.length,
  ]);
  return Buffer.concat([header, blob.domainKeyId, blob.wrapped]);
}

/**
 * Parses a blob. Anything malformed is an HsmError of kind `data` (CKR_WRAPPED_KEY_INVALID):
 * the metadata store handed us bytes this backend did not write.
 */
export function parseMaterialBlob(bytes: Uint8Array): MaterialBlob {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why: string) => hsmError('CKR_WRAPPED_KEY_INVALID', 'parseMaterialBlob', 'data', `Malformed key material blob: ${why}.`);
  if (b.length < 4) throw fail('too short');
  if (b[0] !== MATERIAL_BLOB_VERSION) throw fail(`unsupported version ${b[0]}`);
  if (b[1] !== MECHANISM_AES_KWP) throw fail(`unknown wrapping mechanism ${b[1]}`);
  const specByte = b[2]!;
  const purpose: MaterialPurpose = specByte >= WRAPPING_KEY_OFFSET ? 'import-wrapping' : specByte >= KEY_AGREEMENT_OFFSET ? 'key-agreement' : 'cmk';
  const keySpec = KEY_SPECS[specByte - PURPOSE_OFFSET[purpose]];
  if (keySpec === undefined) throw fail(`unknown key spec ${specByte}`);
  const idLength = b[3]!;
  if (idLength < 1 || idLength > 64) throw fail('bad domain key id length');
  const wrapped = b.subarray(4 + idLength);
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) throw fail('wrapped key has an impossible length');
  return { keySpec, purpose, domainKeyId: Buffer.from(b.subarray(4, 4 + idLength)), wrapped: Buffer.from(wrapped) };
}
