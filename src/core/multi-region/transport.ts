/**
 * The optional backend capability multi-Region keys need: key material that can travel from one
 * HSM to another, wrapped inside the source token to a transport key made in the destination
 * token, so that the plaintext material is never in either process. Detected at run time
 * ({@link replicaTransportOf}); a backend without it cannot make multi-Region keys.
 */
import type { KeySpec, KeyUsage } from '../model.js';
import type { GeneratedMaterial, KeyBackend, MaterialRef } from '../ports.js';

/** The OAEP hash of a transport wrapping, as AWS names wrapping algorithms (`…_SHA_1`, `…_SHA_256`). */
export type TransportHash = 'SHA_1' | 'SHA_256';

/**
 * How one version travels, by AWS's wrapping-algorithm names: RSAES-OAEP of the secret itself
 * (AES and HMAC keys), or RSAES-OAEP of an ephemeral AES key followed by AES-KWP (RFC 5649) of the
 * PKCS#8 private key (`RSA_AES_KEY_WRAP_…`), exactly the formats ImportKeyMaterial takes.
 */
export type TransportAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256';

export const TRANSPORT_ALGORITHMS: readonly TransportAlgorithm[] = [
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_256',
  'RSAES_OAEP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_1',
];

/**
 * Material of a multi-Region key version: the usual blob (`wrapped`, for use) and the transfer
 * blob, the same material wrapped under the token's replication key, which is what
 * {@link ReplicaTransport.wrapForReplica} unwraps to send it on.
 */
export interface ReplicableMaterial extends GeneratedMaterial {
  transferWrapped: Buffer;
}

/** One version's transfer blob, as the store keeps it. */
export interface TransferRef {
  keySpec: KeySpec;
  /** The key's usage: KEY_AGREEMENT material travels as derive-only material (default: the spec's usual usage). */
  keyUsage?: KeyUsage | undefined;
  transferWrapped: Uint8Array;
}

export interface ReplicaTransport {
  /**
   * New material for a multi-Region key, generated in the token and wrapped twice before it is
   * destroyed. `usage` KEY_AGREEMENT (EC only) makes derive-only material, and both blobs say so.
   */
  generateReplicableMaterial(spec: KeySpec, usage?: KeyUsage): Promise<ReplicableMaterial>;
  /**
   * Why material of `spec` cannot travel between tokens (an EdDSA key is a non-extractable token
   * object: see the PKCS#11 backend's key-specs.ts), as a sentence; undefined when it can.
   */
  unreplicableSpec(spec: KeySpec): string | undefined;
  /**
   * The hashes this token does RSAES-OAEP with inside itself, best first. Only these are offered
   * or used: a transport never falls back to removing OAEP padding in process memory.
   */
  transportHashes(): TransportHash[];
  /**
   * Source side: unwraps the transfer blob inside the token and wraps it there to the peer's
   * transport public key (SubjectPublicKeyInfo, RSA). Throws a BackendError of kind `data` for a
   * public key that is not a usable RSA key.
   */
  wrapForReplica(material: TransferRef, transportPublicKey: Uint8Array, hash: TransportHash): Promise<Buffer>;
  /**
   * Destination side: unwraps `wrapped` with the transport private key (an import-wrapping blob)
   * into the token and wraps it under the domain key (for use) and the replication key (to send
   * it on later). Throws a BackendError of kind `data` when it does not unwrap to a key of `spec`.
   * `usage` KEY_AGREEMENT makes it derive-only material (never a signing key), as generated.
   * A private key's `publicKey` (the SubjectPublicKeyInfo the primary sent; required for EC, whose
   * private key object carries no point) is checked in the token against the material — kind
   * `data` when it is not that key's — and answered as GetPublicKey serves it: DER, EC points
   * uncompressed.
   */
  unwrapFromReplica(transportKey: MaterialRef, hash: TransportHash, wrapped: Uint8Array, spec: KeySpec, usage?: KeyUsage, publicKey?: Uint8Array): Promise<ReplicableMaterial>;
}

/** The transport capability of a backend, if it has one. */
export function replicaTransportOf(backend: KeyBackend): ReplicaTransport | undefined {
  const candidate = backend as Partial<ReplicaTransport>;
  return typeof candidate.generateReplicableMaterial === 'function' &&
    typeof candidate.wrapForReplica === 'function' &&
    typeof candidate.unwrapFromReplica === 'function' &&
    typeof candidate.transportHashes === 'function'
    ? (backend as KeyBackend & ReplicaTransport)
    : undefined;
}

/** The algorithm for a key spec's family and a hash. */
export function transportAlgorithm(spec: KeySpec, hash: TransportHash): TransportAlgorithm {
  const secret = spec === 'SYMMETRIC_DEFAULT' || spec.startsWith('HMAC_');
  return `${secret ? 'RSAES_OAEP' : 'RSA_AES_KEY_WRAP'}_${hash}` as TransportAlgorithm;
}

/** The hash of an algorithm. */
export function transportHashOf(algorithm: TransportAlgorithm): TransportHash {
  return algorithm.endsWith('SHA_256') ? 'SHA_256' : 'SHA_1';
}
