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
import { createECDH, createHash, createPublicKey, ECDH, randomBytes, verify as verifySignature } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, Template } from 'pkcs11js';
import type { KeySpec, WrappingAlgorithm } from '../../core/model.js';
import type { GeneratedMaterial } from '../../core/ports.js';
import { hsmError, toHsmError } from './errors.js';
import { ephemeralUnwrapKeyTemplate, oaepMechanism, specInfo, unwrapCallKind, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob } from './material-blob.js';
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
  const calls = backend.calls;
  const info = specInfo(target);
  const newId = () => (backend.profile.uniqueKeyIds ? randomBytes(16) : undefined);
  const hash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  const template: Template = unwrapTemplate(target, 'cmk', backend.profile, false, newId());
  // ECDH with the generator recovers the public key of an imported EC private key (see below).
  if (info.family === 'ec') for (const a of template) if (a.type === P.CKA_DERIVE) a.value = true;
  let ephemeral: Handle | undefined;
  let imported: Handle | undefined;
  const seen: { length?: number } = {};
  try {
    if (algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256') {
      if (info.family !== 'aes' && info.family !== 'hmac')
        throw incorrect(`${algorithm} can only import symmetric and HMAC key material; use RSA_AES_KEY_WRAP_SHA_* for ${target}.`);
      imported = await oaepUnwrap(backend, session, hash, wrappingKey, encrypted, template, seen);
    } else {
      const [modulus] = await calls.call('C_GetAttributeValue', session, wrappingKey, [{ type: P.CKA_MODULUS }]);
      const split = (modulus!.value as Buffer).length;
      if (encrypted.length <= split + 8) throw incorrect('The wrapped key material is too short for RSA_AES_KEY_WRAP.');
      ephemeral = await oaepUnwrap(backend, session, hash, wrappingKey, encrypted.subarray(0, split), ephemeralUnwrapKeyTemplate(newId()));
      imported = await unwrap(backend, session, { mechanism: P.CKM_AES_KEY_WRAP_PAD }, ephemeral, encrypted.subarray(split), template);
    }
    let publicKey: Buffer | undefined;
    if (info.family === 'rsa') publicKey = await rsaPublicKey(backend, session, imported, info.modulusBits!);
    else if (info.family === 'ec') publicKey = await ecPublicKey(backend, session, imported, target, newId());
    const wrapped = await backend.wrapUnderDomainKey(session, imported, target, 'cmk');
    if (info.family === 'aes' || info.family === 'hmac') {
      checkLength(target, seen.length, parseMaterialBlob(wrapped).wrapped.length);
      if (info.family === 'aes') await trialEncrypt(backend, session, imported);
    }
    return { wrapped, ...(publicKey ? { publicKey } : {}) };
  } finally {
    await backend.destroyQuietly(session, imported, ephemeral);
  }
}

/**
 * Unwraps an OAEP-encrypted key into the token. Tokens without OAEP for this hash (SoftHSM2 2.6
 * with SHA-256) get raw RSA in the token and the padding removed in process memory; the key
 * bytes are then created in the token and the buffer is zeroed at once. That brief exposure is
 * the documented exception to "plaintext only in the token" on such tokens.
 */
async function oaepUnwrap(
  backend: Pkcs11Backend,
  s: Handle,
  hash: 'sha1' | 'sha256',
  key: Handle,
  data: Buffer,
  template: Template,
  seen?: { length?: number },
): Promise<Handle> {
  if (backend.oaepInToken(hash)) {
    try {
      return await unwrap(backend, s, oaepMechanism(hash), key, data, template);
    } catch (e) {
      if (!backend.refusesOaep(e, hash)) throw e;
    }
  }
  let value: Buffer;
  try {
    value = await backend.rsaOaepDecrypt(s, key, hash, data);
  } catch (e) {
    const error = toHsmError(e, 'C_Decrypt', { callerInput: true, dataCodes: backend.profile.badCiphertextCodes });
    if (error.kind === 'data')
      throw hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', 'The key material could not be unwrapped with this import token.');
    // Not conclusive (CKR_GENERAL_ERROR for raw RSA input past the modulus, say): the backend
    // tests the session before deciding whose fault it was.
    throw e;
  }
  if (seen) seen.length = value.length;
  try {
    return await backend.calls.call('C_CreateObject', s, [...template, { type: P.CKA_VALUE, value }]);
  } catch (e) {
    throw toHsmError(e, 'C_CreateObject', { callerInput: true });
  } finally {
    value.fill(0);
  }
}

async function unwrap(backend: Pkcs11Backend, s: Handle, mech: Mechanism, key: Handle, data: Buffer, template: Template): Promise<Handle> {
  try {
    return await backend.calls.op(unwrapCallKind(mech), 'C_UnwrapKey', s, mech, key, data, template);
  } catch (e) {
    // Whatever the token calls it, input that does not unwrap is the caller's problem; codes that
    // may also mean a broken session (CKR_GENERAL_ERROR) go to the backend's session test.
    if (toHsmError(e, 'C_UnwrapKey').kind === 'data')
      throw hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', 'The key material could not be unwrapped with this import token.');
    throw e;
  }
}

/**
 * Checks the imported key's length. Tokens such as SoftHSM2 do not fill in CKA_VALUE_LEN for
 * unwrapped keys, so when the exact length is unknown it is bounded by the RFC 5649 wrapping
 * under the domain key: a wrapped length L holds between L-15 and L-8 bytes.
 */
function checkLength(target: KeySpec, exact: number | undefined, wrappedLength: number): void {
  const [min, max] = LENGTHS[target]!;
  const low = exact ?? wrappedLength - 15;
  const high = exact ?? wrappedLength - 8;
  if (high < min || low > max)
    throw incorrect(`${target} key material must be ${min === max ? min : `${min}–${max}`} bytes${exact === undefined ? '' : `, not ${exact}`}.`);
}

/** An AES key of an invalid size (the token may accept any length on unwrap) fails here. */
async function trialEncrypt(backend: Pkcs11Backend, s: Handle, key: Handle): Promise<void> {
  try {
    await backend.calls.initAndRun('aes', ['C_EncryptInit', s, { mechanism: P.CKM_AES_ECB }, key], ['C_Encrypt', s, Buffer.alloc(16), Buffer.alloc(16)]);
  } catch {
    throw incorrect('The imported material is not a valid AES-256 key.');
  }
}

async function rsaPublicKey(backend: Pkcs11Backend, s: Handle, key: Handle, bits: number): Promise<Buffer> {
  const [n, e] = await backend.calls.call('C_GetAttributeValue', s, key, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
  const modulus = n!.value as Buffer;
  if (modulus.length * 8 !== bits) throw incorrect(`The imported RSA key is ${modulus.length * 8} bits; the key spec needs ${bits}.`);
  return rsaSpki(modulus, e!.value as Buffer);
}

/**
 * A PKCS#11 EC private key object carries no public point. ECDH of the private key d with the
 * curve's generator G yields the x-coordinate of d·G, the public key; of the two points with
 * that x, the one that verifies a signature made by the imported key is the public key.
 */
async function ecPublicKey(backend: Pkcs11Backend, s: Handle, key: Handle, spec: KeySpec, id: Buffer | undefined): Promise<Buffer> {
  const calls = backend.calls;
  const info = specInfo(spec);
  const [params] = await calls.call('C_GetAttributeValue', s, key, [{ type: P.CKA_EC_PARAMS }]);
  if (!(params!.value as Buffer).equals(info.ecParams!)) throw incorrect(`The imported EC key is not on the curve of ${spec}.`);
  const curve = opensslCurve(spec);
  // d·G is the public key: nothing secret in it.
  const x = await ecPublicX(backend, s, key, spec, id);
  for (const prefix of [0x02, 0x03]) {
    const point = ECDH.convertKey(Buffer.concat([Buffer.from([prefix]), x]), curve, undefined, undefined, 'uncompressed') as Buffer;
    const spki = ecSpki(point, info.jwkCurve!, info.ecFieldBytes!);
    if (await signsFor(backend, s, key, spec, spki)) return spki;
  }
  throw incorrect('Could not determine the public key of the imported EC key.');
}

/** OpenSSL's name of an EC key spec's curve. */
function opensslCurve(spec: KeySpec): string {
  const jwk = specInfo(spec).jwkCurve!;
  return jwk === 'secp256k1' ? 'secp256k1' : { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' }[jwk]!;
}

/** The x-coordinate of an EC private key's public point: ECDH of the key (CKA_DERIVE) with the curve's generator. */
export async function ecPublicX(backend: Pkcs11Backend, s: Handle, key: Handle, spec: KeySpec, id: Buffer | undefined): Promise<Buffer> {
  return backend.ecdhX('generate', s, key, generatorOf(opensslCurve(spec)), spec, id);
}

/** Whether an ECDSA signature the EC private key makes (CKA_SIGN) verifies with the public key `spki`. */
export async function signsFor(backend: Pkcs11Backend, s: Handle, key: Handle, spec: KeySpec, spki: Buffer): Promise<boolean> {
  const probe = createHash('sha256').update('hsmkms import probe').digest();
  const signature = await backend.calls.initAndRun(specInfo(spec).callKind, ['C_SignInit', s, { mechanism: P.CKM_ECDSA }, key], ['C_Sign', s, probe, Buffer.alloc(256)]);
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  return verifySignature('sha256', Buffer.from('hsmkms import probe'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
}

/** The curve's base point, uncompressed: the public key of the private scalar 1. */
function generatorOf(curve: string): Buffer {
  const one = Buffer.alloc(curve === 'secp521r1' ? 66 : curve === 'secp384r1' ? 48 : 32);
  one[one.length - 1] = 1;
  const e = createECDH(curve);
  e.setPrivateKey(one);
  return e.getPublicKey();
}
