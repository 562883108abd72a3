/**
 * ImportKeyMaterial: customer material encrypted under an import wrapping key (RSA, in the
 * token) is unwrapped directly into the token, checked, and re-wrapped under the domain key.
 *
 * - RSAES_OAEP_SHA_1/256: the material (a symmetric or HMAC key) is OAEP-encrypted as a whole.
 * - RSA_AES_KEY_WRAP_SHA_1/256: OAEP(ephemeral AES key) ‖ AES-KWP (RFC 5649) of the material
 *   (PKCS#8 for private keys). SoftHSM2 2.6 has no CKM_RSA_AES_KEY_WRAP, so this is two unwraps
 *   in the token; the ephemeral key never leaves it either.
 *
 * Anything that does not unwrap, or unwraps to the wrong kind or size of key, is an HsmError of
 * kind `data` (KMS: IncorrectKeyMaterialException / InvalidCiphertextException).
 */
import { createECDH, createHash, createPublicKey, ECDH, verify as verifySignature } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { ECDH1, Handle, Template } from 'pkcs11js';
import type { KeySpec, WrappingAlgorithm } from '../../core/model.js';
import type { GeneratedMaterial } from '../../core/ports.js';
import { hsmError, toHsmError } from './errors.js';
import { oaepMechanism, specInfo, unwrapTemplate } from './key-specs.js';
import type { Pkcs11Backend } from './pkcs11-backend.js';
import { ecSpki, rsaSpki } from './public-key.js';

const P = pkcs11js;

/** Allowed imported key lengths in bytes (AWS: HMAC keys may be longer than the digest). */
const LENGTHS: Partial<Record<KeySpec, readonly [number, number]>> = {
  SYMMETRIC_DEFAULT: [32, 32],
  HMAC_224: [28, 64],
  HMAC_256: [32, 64],
  HMAC_384: [48, 128],
  HMAC_512: [64, 128],
};

const incorrect = (why: string) => hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', why);

/** Unwraps, checks and re-wraps imported material. Runs on `session`, with the wrapping key's handle. */
export async function importMaterial(
  backend: Pkcs11Backend,
  session: Handle,
  wrappingKey: Handle,
  algorithm: WrappingAlgorithm,
  encrypted: Buffer,
  target: KeySpec,
): Promise<GeneratedMaterial> {
  const m = backend.module;
  const info = specInfo(target);
  const hash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  const template: Template = unwrapTemplate(target, 'cmk', backend.profile, false);
  // ECDH with the generator recovers the public key of an imported EC private key (see below).
  if (info.family === 'ec') template.push({ type: P.CKA_DERIVE, value: true });
  let ephemeral: Handle | undefined;
  let imported: Handle | undefined;
  try {
    if (algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256') {
      if (info.family !== 'aes' && info.family !== 'hmac')
        throw incorrect(`${algorithm} can only import symmetric and HMAC key material; use RSA_AES_KEY_WRAP_SHA_* for ${target}.`);
      imported = await unwrap(m, session, oaepMechanism(hash), wrappingKey, encrypted, template);
    } else {
      const [modulus] = m.C_GetAttributeValue(session, wrappingKey, [{ type: P.CKA_MODULUS }]);
      const split = modulus!.value.length;
      if (encrypted.length <= split + 8) throw incorrect('The wrapped key material is too short for RSA_AES_KEY_WRAP.');
      ephemeral = await unwrap(m, session, oaepMechanism(hash), wrappingKey, encrypted.subarray(0, split), [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_UNWRAP, value: true },
      ]);
      imported = await unwrap(m, session, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, ephemeral, encrypted.subarray(split), template);
    }
    let publicKey: Buffer | undefined;
    if (info.family === 'aes' || info.family === 'hmac') checkLength(m.C_GetAttributeValue(session, imported, [{ type: P.CKA_VALUE_LEN }])[0]!.value, target);
    else if (info.family === 'rsa') publicKey = rsaPublicKey(backend, session, imported, info.modulusBits!);
    else publicKey = await ecPublicKey(backend, session, imported, target);
    return { wrapped: await backend.wrapUnderDomainKey(session, imported, target, 'cmk'), ...(publicKey ? { publicKey } : {}) };
  } finally {
    backend.destroyQuietly(session, imported, ephemeral);
  }
}

async function unwrap(m: Pkcs11Backend['module'], s: Handle, mech: Parameters<Pkcs11Backend['module']['C_UnwrapKey']>[1], key: Handle, data: Buffer, template: Template): Promise<Handle> {
  try {
    return await m.C_UnwrapKeyAsync(s, mech, key, data, template);
  } catch (e) {
    const error = toHsmError(e, 'C_UnwrapKey');
    // Whatever the token calls it, input that does not unwrap is the caller's problem.
    if (['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED', 'CKR_DATA_INVALID', 'CKR_DATA_LEN_RANGE'].includes(error.code))
      throw hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', 'The key material could not be unwrapped with this import token.');
    throw error;
  }
}

function checkLength(raw: Buffer, target: KeySpec): void {
  const length = raw.length === 8 ? Number(raw.readBigUInt64LE()) : raw.readUInt32LE();
  const [min, max] = LENGTHS[target]!;
  if (length < min || length > max) throw incorrect(`${target} key material must be ${min === max ? min : `${min}–${max}`} bytes, not ${length}.`);
}

function rsaPublicKey(backend: Pkcs11Backend, s: Handle, key: Handle, bits: number): Buffer {
  const [n, e] = backend.module.C_GetAttributeValue(s, key, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
  if (n!.value.length * 8 !== bits) throw incorrect(`The imported RSA key is ${n!.value.length * 8} bits; the key spec needs ${bits}.`);
  return rsaSpki(n!.value, e!.value);
}

/**
 * A PKCS#11 EC private key object carries no public point. ECDH of the private key d with the
 * curve's generator G yields the x-coordinate of d·G, the public key; of the two points with
 * that x, the one that verifies a signature made by the imported key is the public key.
 */
async function ecPublicKey(backend: Pkcs11Backend, s: Handle, key: Handle, spec: KeySpec): Promise<Buffer> {
  const m = backend.module;
  const info = specInfo(spec);
  const [params] = m.C_GetAttributeValue(s, key, [{ type: P.CKA_EC_PARAMS }]);
  if (!params!.value.equals(info.ecParams!)) throw incorrect(`The imported EC key is not on the curve of ${spec}.`);
  const curve = info.jwkCurve === 'secp256k1' ? 'secp256k1' : { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' }[info.jwkCurve!]!;
  const generator = generatorOf(curve);
  const ecdh: ECDH1 = { type: P.CK_PARAMS_EC_DH, kdf: P.CKD_NULL, publicData: generator };
  const secret = m.C_DeriveKey(s, { mechanism: P.CKM_ECDH1_DERIVE, parameter: ecdh }, key, [
    { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
    { type: P.CKA_TOKEN, value: false },
    // d·G is the public key: nothing secret in it.
    { type: P.CKA_SENSITIVE, value: false },
    { type: P.CKA_EXTRACTABLE, value: true },
    { type: P.CKA_VALUE_LEN, value: info.ecFieldBytes! },
  ]);
  let x: Buffer;
  try {
    x = Buffer.from(m.C_GetAttributeValue(s, secret, [{ type: P.CKA_VALUE }])[0]!.value);
  } finally {
    backend.destroyQuietly(s, secret);
  }
  const probe = createHash('sha256').update('hsmkms import probe').digest();
  m.C_SignInit(s, { mechanism: P.CKM_ECDSA }, key);
  const signature = m.C_Sign(s, probe, Buffer.alloc(256));
  for (const prefix of [0x02, 0x03]) {
    const point = ECDH.convertKey(Buffer.concat([Buffer.from([prefix]), x]), curve, undefined, undefined, 'uncompressed') as Buffer;
    const spki = ecSpki(point, info.jwkCurve!, info.ecFieldBytes!);
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    if (verifySignature('sha256', Buffer.from('hsmkms import probe'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) return spki;
  }
  throw incorrect('Could not determine the public key of the imported EC key.');
}

/** The curve's base point, uncompressed: the public key of the private scalar 1. */
function generatorOf(curve: string): Buffer {
  const one = Buffer.alloc(curve === 'secp521r1' ? 66 : curve === 'secp384r1' ? 48 : 32);
  one[one.length - 1] = 1;
  const e = createECDH(curve);
  e.setPrivateKey(one);
  return e.getPublicKey();
}
