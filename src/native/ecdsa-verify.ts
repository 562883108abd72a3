/**
 * The CA's {@link EcdsaVerifier} on the native addon (native/ecdsa-verify.cc): a CSR's ECDSA
 * self-signature checked on libuv's thread pool with the key imported there too. node:crypto
 * imports a key on the calling thread, and its import of P-256/P-384 coordinates (JWK, or the
 * SubjectPublicKeyInfo) validates the point with a full scalar multiplication by the group
 * order: as much CPU as the check itself (~0.8 M instructions per P-256 request on the event
 * loop, ~60–80 µs), which proves nothing the on-curve check does not (both curves have cofactor 1).
 */
import type { EcdsaVerdict, EcdsaVerifier } from '../ca/ports.js';
import { optionalAddon } from './addon.js';

const VERDICTS: readonly EcdsaVerdict[] = ['valid', 'invalid-signature', 'invalid-key'];

const asBuffer = (bytes: Uint8Array) => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/** The addon's verifier, or undefined when the addon is not built (the CA then uses node:crypto). */
export function nativeEcdsaVerifier(): EcdsaVerifier | undefined {
  const addon = optionalAddon();
  // Not built, or built before verifyEcdsa existed.
  if (!addon || typeof addon.verifyEcdsa !== 'function') return undefined;
  const verifyEcdsa = addon.verifyEcdsa;
  return {
    verify: (curve, point, hash, data, signature) =>
      new Promise((resolve, reject) => {
        verifyEcdsa(curve, asBuffer(point), hash, asBuffer(data), asBuffer(signature), (error, verdict) => {
          if (error) reject(error);
          else resolve(VERDICTS[verdict] ?? 'invalid-signature');
        });
      }),
  };
}
