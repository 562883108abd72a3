/**
 * Public-key encodings: SubjectPublicKeyInfo from a token's public key attributes (through
 * node:crypto's JWK import, so no hand-written SPKI; RSA, EC and Ed25519), and ECDSA signature conversion from the
 * token's raw r‖s to the DER SEQUENCE that KMS returns.
 */
import { createPublicKey } from 'node:crypto';

/** SPKI DER for an RSA public key given modulus and public exponent (big-endian). */
export function rsaSpki(modulus: Buffer, exponent: Buffer): Buffer {
  return createPublicKey({
    key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
    format: 'jwk',
  }).export({ type: 'spki', format: 'der' });
}

/**
 * SPKI DER for an EC public key. `ecPoint` is CKA_EC_POINT: PKCS#11 says a DER OCTET STRING around
 * the uncompressed point, but some tokens return the bare point; both are accepted.
 */
export function ecSpki(ecPoint: Buffer, jwkCurve: string, fieldBytes: number): Buffer {
  const pointLength = 1 + 2 * fieldBytes;
  let point = ecPoint;
  if (point.length !== pointLength) point = unwrapOctetString(point);
  if (point.length !== pointLength || point[0] !== 0x04) throw new Error('unexpected CKA_EC_POINT encoding');
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: jwkCurve,
      x: point.subarray(1, 1 + fieldBytes).toString('base64url'),
      y: point.subarray(1 + fieldBytes).toString('base64url'),
    },
    format: 'jwk',
  }).export({ type: 'spki', format: 'der' });
}

/**
 * SPKI DER (id-Ed25519, RFC 8410) for an Ed25519 public key. `ecPoint` is CKA_EC_POINT: PKCS#11 3.0
 * says a DER OCTET STRING around the 32-byte key (SoftHSM2 does so), but some tokens return the bare key.
 */
export function edSpki(ecPoint: Buffer): Buffer {
  const key = ecPoint.length === 32 ? ecPoint : unwrapOctetString(ecPoint);
  if (key.length !== 32) throw new Error('unexpected CKA_EC_POINT encoding for an Ed25519 key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

function unwrapOctetString(der: Buffer): Buffer {
  if (der[0] !== 0x04 || der.length < 2) return der;
  let offset = 2;
  let length = der[1]!;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = (length << 8) | der[2 + i]!;
    offset = 2 + n;
  }
  return der.subarray(offset, offset + length);
}

function derInteger(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let v = unsigned.subarray(i);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return Buffer.concat([Buffer.from([0x02]), derLength(v.length), v]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

/** ECDSA-Sig-Value (RFC 3279) from the raw r‖s a PKCS#11 token returns. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error('ECDSA signature must be r‖s of equal halves');
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/**
 * r‖s (each `fieldBytes` long) from a DER ECDSA-Sig-Value; `undefined` if it is not one
 * (a malformed signature simply does not verify).
 */
export function ecdsaDerToRaw(der: Buffer, fieldBytes: number): Buffer | undefined {
  let pos = 0;
  const readLength = (): number | undefined => {
    const first = der[pos++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n < 1 || n > 2) return undefined;
    let len = 0;
    for (let i = 0; i < n; i++) {
      const b = der[pos++];
      if (b === undefined) return undefined;
      len = (len << 8) | b;
    }
    return len < 0x80 ? undefined : len;
  };
  if (der[pos++] !== 0x30) return undefined;
  const seqLength = readLength();
  if (seqLength === undefined || pos + seqLength !== der.length) return undefined;
  const parts: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[pos++] !== 0x02) return undefined;
    const len = readLength();
    if (len === undefined || len === 0 || pos + len > der.length) return undefined;
    let v = der.subarray(pos, pos + len);
    pos += len;
    if (v[0]! & 0x80) return undefined; // negative
    if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) return undefined; // non-minimal
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > fieldBytes) return undefined;
    parts.push(Buffer.concat([Buffer.alloc(fieldBytes - v.length), v]));
  }
  if (pos !== der.length) return undefined;
  return Buffer.concat(parts);
}

/** DER OCTET STRING around an uncompressed EC point, as CKA_EC_POINT wants it. */
export function ecPointAttribute(x: Buffer, y: Buffer): Buffer {
  const point = Buffer.concat([Buffer.from([0x04]), x, y]);
  return Buffer.concat([Buffer.from([0x04]), derLength(point.length), point]);
}
