/**
 * A caller's elliptic curve public key (SubjectPublicKeyInfo DER), read without handing it to
 * node:crypto's KeyObject accessors: for a SubjectPublicKeyInfo whose point is the point at
 * infinity (BIT STRING 0x00), `createPublicKey` succeeds and then `asymmetricKeyDetails` and
 * `export({format: 'jwk'})` abort the whole process (a failed assertion in Node 20's crypto_ec.cc).
 * So the key is compared byte for byte with the strict DER that RFC 5480 gives for a named curve
 * (nothing before or after it, minimal lengths), and its point is checked to lie on the curve.
 */
import { ECDH } from 'node:crypto';
import type { KeySpec } from './model.js';

/** OpenSSL's names of the curves read here, with their OIDs (DER content bytes) and field sizes. */
const CURVES = {
  prime256v1: { oid: '2a8648ce3d030107', fieldBytes: 32 },
  secp384r1: { oid: '2b81040022', fieldBytes: 48 },
  secp521r1: { oid: '2b81040023', fieldBytes: 66 },
  secp256k1: { oid: '2b8104000a', fieldBytes: 32 },
} as const;
export type EcCurveName = keyof typeof CURVES;

/** The curve of each EC key spec. */
export const EC_SPEC_CURVES: Readonly<Partial<Record<KeySpec, EcCurveName>>> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
  ECC_SECG_P256K1: 'secp256k1',
};

const ID_EC_PUBLIC_KEY = Buffer.from('06072a8648ce3d0201', 'hex');

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
}

/** The DER of a SubjectPublicKeyInfo on `curve` with a point of `pointBytes` bytes, without the point. */
function header(curve: EcCurveName, pointBytes: number): Buffer {
  const oid = Buffer.from(CURVES[curve].oid, 'hex');
  const algorithm = tlv(0x30, Buffer.concat([ID_EC_PUBLIC_KEY, tlv(0x06, oid)]));
  const whole = tlv(0x30, Buffer.concat([algorithm, tlv(0x03, Buffer.alloc(1 + pointBytes))]));
  return whole.subarray(0, whole.length - pointBytes);
}

/** Uncompressed (0x04 ‖ X ‖ Y) or compressed (0x02/0x03 ‖ X) point sizes on `curve`. */
const pointSizes = (curve: EcCurveName) => [1 + 2 * CURVES[curve].fieldBytes, 1 + CURVES[curve].fieldBytes];

/** Which of the curves read here a SubjectPublicKeyInfo names (for messages); undefined for anything else. */
export function ecSpkiCurve(spki: Uint8Array): EcCurveName | undefined {
  const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  for (const curve of Object.keys(CURVES) as EcCurveName[])
    for (const size of pointSizes(curve)) if (bytes.length === header(curve, size).length + size && bytes.subarray(0, bytes.length - size).equals(header(curve, size))) return curve;
  return undefined;
}

/**
 * The uncompressed point (0x04 ‖ X ‖ Y) of a strict-DER SubjectPublicKeyInfo on `curve` whose point
 * is uncompressed or compressed and lies on the curve; undefined for anything else (another curve,
 * explicit parameters, the point at infinity, a hybrid or off-curve point, bytes after the key).
 */
export function ecSpkiPoint(spki: Uint8Array, curve: EcCurveName): Buffer | undefined {
  const bytes = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  const [uncompressed, compressed] = pointSizes(curve) as [number, number];
  for (const size of [uncompressed, compressed]) {
    const prefix = header(curve, size);
    if (bytes.length !== prefix.length + size || !bytes.subarray(0, prefix.length).equals(prefix)) continue;
    const point = bytes.subarray(prefix.length);
    const form = point[0];
    if (size === uncompressed ? form !== 0x04 : form !== 0x02 && form !== 0x03) return undefined;
    try {
      // Decoding checks that the point is on the curve (OpenSSL's EC_POINT_oct2point).
      const out = ECDH.convertKey(point, curve, undefined, undefined, 'uncompressed') as Buffer;
      return out.length === uncompressed ? out : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
