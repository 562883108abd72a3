/**
 * Multi-Region key material between two tokens, never in plaintext outside them (the
 * ReplicaTransport capability of core/multi-region/transport.ts).
 *
 * - A multi-Region key's material is generated as usual and wrapped twice before the session
 *   object is destroyed: under the domain key (the blob every use unwraps, never extractable) and
 *   under the **replication key** `hsmkms-replication-key` (the transfer blob). The domain key's
 *   CKA_UNWRAP_TEMPLATE forbids extractable copies, so only the replication key can give back a
 *   copy that C_WrapKey accepts; single-Region keys never get a transfer blob.
 * - Source: the transfer blob is unwrapped into a sensitive, extractable session object, and
 *   C_WrapKey wraps it to the destination's RSA transport public key (a session object made from
 *   the peer's SubjectPublicKeyInfo): CKM_RSA_PKCS_OAEP for AES and HMAC secrets; for private
 *   keys, which PKCS#11 lets RSA wrap only through an AES key, CKM_AES_KEY_WRAP_PAD (RFC 5649)
 *   under an ephemeral AES key that is itself OAEP-wrapped (SoftHSM2 2.6 has no
 *   CKM_RSA_AES_KEY_WRAP, so it is the two steps; the output is that mechanism's format).
 * - Destination: C_UnwrapKey with the transport private key (made by createWrappingKeyPair and
 *   kept only wrapped under the destination's domain key), then wrapped under its own domain and
 *   replication keys and destroyed.
 * Only OAEP hashes the token does itself are used (SoftHSM2 2.6: SHA-1 only), never the
 * padding-in-memory fallback of key-import.ts. Every session object is destroyed before the call
 * returns; checks that the material arrived intact are the core's (multi-region/material.ts).
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { Handle, Mechanism, Template } from 'pkcs11js';
import type { KeySpec } from '../../core/model.js';
import type { ReplicableMaterial, TransferRef, TransportHash } from '../../core/multi-region/transport.js';
import { EC_SPEC_CURVES, ecSpkiPoint } from '../../core/ec-spki.js';
import { hsmError, toHsmError } from './errors.js';
import { signsFor } from './key-import.js';
import { ecSpki, rsaSpki } from './public-key.js';
import { ephemeralUnwrapKeyTemplate, generationRequest, oaepMechanism, specInfo, unwrapCallKind, unwrapTemplate } from './key-specs.js';
import { parseMaterialBlob, writeMaterialBlob, type MaterialPurpose } from './material-blob.js';
import type { Pkcs11Backend } from './pkcs11-backend.js';
import type { TokenKeySet } from './token-keys.js';

const P = pkcs11js;
const KWP: Mechanism = { mechanism: P.CKM_AES_KEY_WRAP_PAD };
const HASH = { SHA_1: 'sha1', SHA_256: 'sha256' } as const;

/** The smallest transport key accepted from a peer. */
const MIN_TRANSPORT_MODULUS_BITS = 2048;

type Replication = () => Promise<TokenKeySet>;

function newId(backend: Pkcs11Backend): Buffer | undefined {
  return backend.profile.uniqueKeyIds ? randomBytes(16) : undefined;
}

function idAttribute(id: Buffer | undefined): Template {
  return id ? [{ type: P.CKA_ID, value: id }] : [];
}

/**
 * What travels: a key's usual material (`cmk`) or KEY_AGREEMENT material (`key-agreement`:
 * CKA_DERIVE, never CKA_SIGN), each blob saying which, so no side makes a signing key of the other.
 */
export type TravellingPurpose = Extract<MaterialPurpose, 'cmk' | 'key-agreement'>;

/** Wraps a session object under the current replication key: the transfer blob. */
async function wrapUnderReplicationKey(backend: Pkcs11Backend, session: Handle, keys: TokenKeySet, key: Handle, spec: KeySpec, purpose: TravellingPurpose): Promise<Buffer> {
  const rk = keys.current();
  const wrapped = await backend.calls.op('wrap', 'C_WrapKey', session, KWP, rk.handle, key, Buffer.alloc(8192));
  return writeMaterialBlob({ keySpec: spec, purpose, domainKeyId: rk.id, wrapped: Buffer.from(wrapped) });
}

/** The HSM's multi-Region hashes: those it does OAEP with itself, SHA-256 first. */
export function transportHashes(backend: Pkcs11Backend): TransportHash[] {
  return (['SHA_256', 'SHA_1'] as const).filter((h) => backend.oaepInToken(HASH[h]));
}

/** Generates material in the token and returns it wrapped under the domain key and the replication key. */
export async function generateReplicable(
  backend: Pkcs11Backend,
  session: Handle,
  replication: Replication,
  spec: KeySpec,
  purpose: TravellingPurpose,
): Promise<ReplicableMaterial> {
  requireTravelling(backend, spec, 'C_GenerateKeyPair');
  const keys = await replication();
  const req = generationRequest(spec, purpose, backend.profile, newId(backend));
  if (req.secret) {
    const key = await backend.calls.op('generate', 'C_GenerateKey', session, req.mechanism, req.secret);
    try {
      return {
        wrapped: await backend.wrapUnderDomainKey(session, key, spec, purpose),
        transferWrapped: await wrapUnderReplicationKey(backend, session, keys, key, spec, purpose),
      };
    } finally {
      await backend.destroyQuietly(session, key);
    }
  }
  const pair = await backend.calls.op('generate', 'C_GenerateKeyPair', session, req.mechanism, req.publicKey!, req.privateKey!);
  try {
    return {
      wrapped: await backend.wrapUnderDomainKey(session, pair.privateKey, spec, purpose),
      transferWrapped: await wrapUnderReplicationKey(backend, session, keys, pair.privateKey, spec, purpose),
      publicKey: await backend.publicKeyOf(session, pair.publicKey, spec),
    };
  } finally {
    await backend.destroyQuietly(session, pair.privateKey, pair.publicKey);
  }
}

/** Material that is a token object of its own (EdDSA, key-specs.ts `tokenObject`) never travels: kind `data`. */
function requireTravelling(backend: Pkcs11Backend, spec: KeySpec, fn: string): void {
  const why = backend.unreplicableSpec(spec);
  if (why !== undefined) throw hsmError('CKR_KEY_NOT_WRAPPABLE', fn, 'data', why);
}

/** A session object for the peer's RSA transport public key; anything else is a data error. */
function transportKeyTemplate(backend: Pkcs11Backend, spki: Uint8Array): Template {
  let jwk: { kty?: string; n?: string; e?: string };
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    // Only an RSA key is exported: the JWK export of an EC key at infinity aborts the process.
    jwk = key.asymmetricKeyType === 'rsa' ? key.export({ format: 'jwk' }) : {};
  } catch {
    throw hsmError('ERR_TRANSPORT_KEY_INVALID', 'C_CreateObject', 'data', 'The transport public key is not a SubjectPublicKeyInfo.');
  }
  const modulus = jwk.kty === 'RSA' && jwk.n ? Buffer.from(jwk.n, 'base64url') : undefined;
  if (!modulus || modulus.length * 8 < MIN_TRANSPORT_MODULUS_BITS)
    throw hsmError('ERR_TRANSPORT_KEY_INVALID', 'C_CreateObject', 'data', `The transport public key must be RSA of at least ${MIN_TRANSPORT_MODULUS_BITS} bits.`);
  return [
    { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
    { type: P.CKA_KEY_TYPE, value: P.CKK_RSA },
    { type: P.CKA_TOKEN, value: false },
    { type: P.CKA_MODULUS, value: modulus },
    { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from(jwk.e!, 'base64url') },
    { type: P.CKA_WRAP, value: true },
    { type: P.CKA_ENCRYPT, value: false },
    { type: P.CKA_VERIFY, value: false },
    ...idAttribute(newId(backend)),
  ];
}

/** The transfer blob unwrapped under its replication key, as a sensitive object C_WrapKey accepts. */
async function unwrapTransferCopy(backend: Pkcs11Backend, session: Handle, replication: Replication, material: TransferRef): Promise<Handle> {
  const blob = parseMaterialBlob(material.transferWrapped);
  const purpose: TravellingPurpose = material.keyUsage === 'KEY_AGREEMENT' ? 'key-agreement' : 'cmk';
  if (blob.keySpec !== material.keySpec || blob.purpose !== purpose)
    throw hsmError('CKR_WRAPPED_KEY_INVALID', 'parseMaterialBlob', 'data', `Transfer blob holds ${blob.purpose} ${blob.keySpec} material, expected ${purpose} ${material.keySpec}.`);
  const keys = await replication();
  const key = keys.get(blob.domainKeyId);
  if (!key) throw hsmError('ERR_REPLICATION_KEY_MISSING', 'C_UnwrapKey', 'internal', 'The replication key that wrapped this material is not in the token.');
  const template = unwrapTemplate(blob.keySpec, purpose, backend.profile, false, newId(backend));
  return backend.calls.op('unwrap', 'C_UnwrapKey', session, KWP, key, blob.wrapped, template);
}

/**
 * Wraps one version to the peer's transport key inside the token. A token that turns out not to
 * do OAEP with this hash says so once (the backend then no longer offers it) and the call fails
 * with kind `input`: the caller picks another hash.
 */
export async function wrapForReplica(
  backend: Pkcs11Backend,
  session: Handle,
  replication: Replication,
  material: TransferRef,
  transportPublicKey: Uint8Array,
  hash: TransportHash,
): Promise<Buffer> {
  if (!backend.oaepInToken(HASH[hash]))
    throw hsmError('CKR_MECHANISM_PARAM_INVALID', 'C_WrapKey', 'internal', `This token does not do RSAES-OAEP with ${hash} itself.`);
  const publicTemplate = transportKeyTemplate(backend, transportPublicKey);
  const family = specInfo(material.keySpec).family;
  let copy: Handle | undefined;
  let publicKey: Handle | undefined;
  let ephemeral: Handle | undefined;
  try {
    copy = await unwrapTransferCopy(backend, session, replication, material);
    publicKey = await backend.calls.call('C_CreateObject', session, publicTemplate);
    const oaep = oaepMechanism(HASH[hash]);
    try {
      if (family === 'aes' || family === 'hmac') return Buffer.from(await backend.calls.op('wrap', 'C_WrapKey', session, oaep, publicKey, copy, Buffer.alloc(1024)));
      ephemeral = await backend.calls.op('generate', 'C_GenerateKey', session, { mechanism: P.CKM_AES_KEY_GEN }, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_VALUE_LEN, value: 32 },
        { type: P.CKA_TOKEN, value: false },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_SENSITIVE, value: true },
        // Extractable only so that the transport key can wrap it; destroyed below.
        { type: P.CKA_EXTRACTABLE, value: true },
        { type: P.CKA_WRAP, value: true },
        { type: P.CKA_ENCRYPT, value: false },
        { type: P.CKA_DECRYPT, value: false },
        { type: P.CKA_UNWRAP, value: false },
        ...idAttribute(newId(backend)),
      ]);
      const wrappedKey = Buffer.from(await backend.calls.op('wrap', 'C_WrapKey', session, KWP, ephemeral, copy, Buffer.alloc(16384)));
      const wrappedEphemeral = Buffer.from(await backend.calls.op('wrap', 'C_WrapKey', session, oaep, publicKey, ephemeral, Buffer.alloc(1024)));
      return Buffer.concat([wrappedEphemeral, wrappedKey]);
    } catch (e) {
      if (backend.refusesOaep(e, HASH[hash])) throw hsmError('CKR_MECHANISM_PARAM_INVALID', 'C_WrapKey', 'internal', `This token does not do RSAES-OAEP with ${hash}.`);
      throw e;
    }
  } finally {
    await backend.destroyQuietly(session, ephemeral, publicKey, copy);
  }
}

const notUnwrapped = (why: string) => hsmError('CKR_WRAPPED_KEY_INVALID', 'C_UnwrapKey', 'data', why);

/** C_UnwrapKey where anything the token rejects as input is the sender's fault (kind `data`). */
async function unwrapFromPeer(backend: Pkcs11Backend, session: Handle, mechanism: Mechanism, key: Handle, data: Buffer, template: Template): Promise<Handle> {
  try {
    return await backend.calls.op(unwrapCallKind(mechanism), 'C_UnwrapKey', session, mechanism, key, data, template);
  } catch (e) {
    // Codes that may also mean a broken session (CKR_GENERAL_ERROR) go on to the session test.
    if (toHsmError(e, 'C_UnwrapKey').kind === 'data') throw notUnwrapped('The replica key material does not unwrap with this transport key.');
    throw e;
  }
}

/** Checks that an unwrapped private key is of the spec's size or curve. */
async function requireShape(backend: Pkcs11Backend, session: Handle, key: Handle, spec: KeySpec): Promise<void> {
  const info = specInfo(spec);
  if (info.family === 'rsa') {
    const [modulus] = await backend.calls.call('C_GetAttributeValue', session, key, [{ type: P.CKA_MODULUS }]);
    const bits = (modulus!.value as Buffer).length * 8;
    if (bits !== info.modulusBits) throw notUnwrapped(`The replica key material is RSA-${bits}; ${spec} needs ${info.modulusBits} bits.`);
  } else if (info.family === 'ec') {
    const [params] = await backend.calls.call('C_GetAttributeValue', session, key, [{ type: P.CKA_EC_PARAMS }]);
    if (!(params!.value as Buffer).equals(info.ecParams!)) throw notUnwrapped(`The replica key material is not on the curve of ${spec}.`);
  }
}

/**
 * The public key of an unwrapped private key as GetPublicKey answers it (DER SubjectPublicKeyInfo,
 * EC points uncompressed), checked in the token against the one the primary sent: RSA from the
 * key's own modulus and exponent; EC — whose PKCS#11 private key carries no point — the point
 * sent, once an ECDSA signature of the key verifies with it. ECDH cannot tell a point from its
 * mirror (x, −y): d and −d give every shared secret the same x-coordinate. So key-agreement
 * material (derive-only, it cannot sign) is checked on `signingProbe`: a second unwrap of the same
 * material as a signing session object, which signs one fixed probe and is destroyed (never
 * wrapped, stored or used for anything else). Throws kind `data` otherwise.
 */
async function checkedPublicKey(
  backend: Pkcs11Backend,
  session: Handle,
  key: Handle,
  spec: KeySpec,
  purpose: TravellingPurpose,
  sent: Uint8Array | undefined,
  signingProbe: () => Promise<Handle>,
): Promise<Buffer> {
  const info = specInfo(spec);
  const mismatch = () => notUnwrapped(`The PublicKey sent with the material is not the public key of that ${spec} material.`);
  if (info.family === 'rsa') {
    const [n, e] = await backend.calls.call('C_GetAttributeValue', session, key, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    const own = rsaSpki(n!.value as Buffer, e!.value as Buffer);
    if (sent !== undefined && !canonicalRsa(sent)?.equals(own)) throw mismatch();
    return own;
  }
  const point = sent === undefined ? undefined : ecSpkiPoint(sent, EC_SPEC_CURVES[spec]!);
  if (point === undefined) throw notUnwrapped(`An ${spec} key's material arrives with its public key (PublicKey, a SubjectPublicKeyInfo of that curve).`);
  const spki = ecSpki(point, info.jwkCurve!, info.ecFieldBytes!);
  if (purpose === 'cmk') {
    if (!(await signsFor(backend, session, key, spec, spki))) throw mismatch();
    return spki;
  }
  let probe: Handle | undefined;
  try {
    probe = await signingProbe();
    if (!(await signsFor(backend, session, probe, spec, spki))) throw mismatch();
  } finally {
    await backend.destroyQuietly(session, probe);
  }
  return spki;
}

/** An RSA SubjectPublicKeyInfo re-encoded (DER) by OpenSSL, or undefined when it is not one. */
function canonicalRsa(spki: Uint8Array): Buffer | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'rsa' ? key.export({ type: 'spki', format: 'der' }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unwraps a peer's wrapped material with the transport key and re-wraps it for this token; a
 * private key's public key is checked against `publicKey` (what the primary sent) and answered
 * in canonical form (see checkedPublicKey).
 */
export async function unwrapFromReplica(
  backend: Pkcs11Backend,
  session: Handle,
  replication: Replication,
  transportKey: Handle,
  hash: TransportHash,
  wrapped: Buffer,
  spec: KeySpec,
  purpose: TravellingPurpose,
  publicKey?: Uint8Array,
): Promise<ReplicableMaterial> {
  if (!backend.oaepInToken(HASH[hash])) throw hashNotOffered(hash);
  requireTravelling(backend, spec, 'C_UnwrapKey');
  const keys = await replication();
  const info = specInfo(spec);
  const template = unwrapTemplate(spec, purpose, backend.profile, false, newId(backend));
  const oaep = oaepMechanism(HASH[hash]);
  let ephemeral: Handle | undefined;
  let key: Handle | undefined;
  // A private key's material under the ephemeral AES key (RSA_AES_KEY_WRAP's second part).
  let sealed: Buffer | undefined;
  try {
    if (info.family === 'aes' || info.family === 'hmac') {
      key = await unwrapFromPeer(backend, session, oaep, transportKey, wrapped, template);
    } else {
      const [modulus] = await backend.calls.call('C_GetAttributeValue', session, transportKey, [{ type: P.CKA_MODULUS }]);
      const split = (modulus!.value as Buffer).length;
      if (wrapped.length <= split + 8) throw notUnwrapped('The wrapped replica key material is too short for RSA_AES_KEY_WRAP.');
      ephemeral = await unwrapFromPeer(backend, session, oaep, transportKey, wrapped.subarray(0, split), ephemeralUnwrapKeyTemplate(newId(backend)));
      sealed = wrapped.subarray(split);
      key = await unwrapFromPeer(backend, session, KWP, ephemeral, sealed, template);
      await requireShape(backend, session, key, spec);
    }
    const unwrapper = ephemeral;
    // The same material once more, as a signing object that cannot leave the token (checkedPublicKey).
    const signingProbe = () => unwrapFromPeer(backend, session, KWP, unwrapper!, sealed!, unwrapTemplate(spec, 'cmk', backend.profile, true, newId(backend)));
    const checked = info.family === 'rsa' || info.family === 'ec' ? await checkedPublicKey(backend, session, key, spec, purpose, publicKey, signingProbe) : undefined;
    return {
      wrapped: await backend.wrapUnderDomainKey(session, key, spec, purpose),
      transferWrapped: await wrapUnderReplicationKey(backend, session, keys, key, spec, purpose),
      ...(checked ? { publicKey: checked } : {}),
    };
  } catch (e) {
    if (backend.refusesOaep(e, HASH[hash])) throw hashNotOffered(hash);
    throw e;
  } finally {
    await backend.destroyQuietly(session, key, ephemeral);
  }
}

/**
 * A hash this token does not offer (any more: it offered it to PrepareReplica, then refused it):
 * this token's failure, not the material's, so never kind `data` (which the core answers
 * IncorrectKeyMaterialException, a refusal the sender gives up on). The sender's next attempt
 * prepares again and is offered the hashes left.
 */
function hashNotOffered(hash: TransportHash) {
  return hsmError('CKR_MECHANISM_PARAM_INVALID', 'C_UnwrapKey', 'internal', `This token does not do RSAES-OAEP with ${hash} itself (any more); prepare the transfer again.`);
}
