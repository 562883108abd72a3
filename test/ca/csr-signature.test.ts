/**
 * A CSR's ECDSA self-signature checked by the native addon (src/native/ecdsa-verify.ts, the
 * server's path) against the same check with node:crypto (readCsr without a verifier, the path
 * it replaced): every request, well-formed or hostile, must be accepted or refused by both, with
 * the same message. The addon is the real one, built by `npm install`.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readCsr, type CheckedCsr } from '../../src/ca/csr.js';
import { element } from '../../src/ca/der.js';
import { CaError } from '../../src/ca/errors.js';
import type { EcdsaVerifier } from '../../src/ca/ports.js';
import { nativeEcdsaVerifier } from '../../src/native/ecdsa-verify.js';

const b = (hex: string) => Buffer.from(hex, 'hex');
const OID = (hex: string) => Buffer.from(`06${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`, 'hex');
const SAN = OID('551d11');
const subject = element(0x30, element(0x31, element(0x30, OID('550403'), element(0x0c, Buffer.from('a.example')))));
const attributes = element(0xa0, element(0x30, OID('2a864886f70d01090e'), element(0x31, element(0x30, element(0x30, SAN, element(0x04, element(0x30, element(0x82, Buffer.from('a.example')))))))));
const ECDSA_WITH: Record<string, Buffer> = {
  sha1: b('300906072a8648ce3d0401'),
  sha256: b('300a06082a8648ce3d040302'),
  sha384: b('300a06082a8648ce3d040303'),
  sha512: b('300a06082a8648ce3d040304'),
};
const RSA_SHA256 = b('300d06092a864886f70d01010b0500');

const keys = {
  'P-256': generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  'P-384': generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  'P-521': generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  other: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
};
type KeyName = keyof typeof keys;
const spkiOf = (key: KeyName) => keys[key].publicKey.export({ format: 'der', type: 'spki' });

interface Order {
  key?: KeyName;
  /** The SubjectPublicKeyInfo the request carries (default: the signing key's). */
  spki?: Buffer;
  hash?: string;
  algorithm?: Buffer;
  /** Changes the signature's bytes before they are framed. */
  signature?: (signature: Buffer) => Buffer;
  /** Changes the signed info after signing. */
  tamper?: (info: Buffer) => Buffer;
}

function request(order: Order = {}): Buffer {
  const key = order.key ?? 'P-256';
  const hash = order.hash ?? 'sha256';
  const info = element(0x30, b('020100'), subject, order.spki ?? spkiOf(key), attributes);
  let signature: Buffer = sign(hash, info, keys[key].privateKey);
  if (order.signature) signature = order.signature(signature);
  return element(0x30, order.tamper ? order.tamper(info) : info, order.algorithm ?? ECDSA_WITH[hash]!, element(0x03, b('00'), signature));
}

/** An ECDSA-Sig-Value with one more 00 octet before r: the same numbers, not DER. */
function paddedR(signature: Buffer): Buffer {
  const rLength = signature[3]!;
  const r = signature.subarray(4, 4 + rLength);
  const rest = signature.subarray(4 + rLength);
  return element(0x30, element(0x02, Buffer.concat([b('00'), r])), rest);
}

/** The uncompressed point of a P-256 SPKI with X changed: almost never on the curve. */
function offCurve(spki: Buffer, at = 40): Buffer {
  const out = Buffer.from(spki);
  out[out.length - at]! ^= 0x01;
  return out;
}

/** A P-256 SPKI carrying the compressed form of its point (decoded by node:crypto, not the addon). */
function compressed(key: KeyName): Buffer {
  const spki = spkiOf(key);
  const point = spki.subarray(spki.length - 65);
  const prefix = point[64]! & 1 ? 0x03 : 0x02;
  return element(0x30, element(0x30, OID('2a8648ce3d0201'), OID('2a8648ce3d030107')), element(0x03, b('00'), Buffer.concat([Buffer.of(prefix), point.subarray(1, 33)])));
}

type Outcome = { accepted: Omit<CheckedCsr, 'subject'> } | { refused: string };

async function outcome(der: Buffer, ecdsa: EcdsaVerifier | undefined): Promise<Outcome> {
  try {
    const { subject: _subject, ...rest } = await readCsr(der, { ecdsa });
    return { accepted: rest };
  } catch (error) {
    if (!(error instanceof CaError)) throw error;
    return { refused: `${error.type}: ${error.message}` };
  }
}

const verifier = nativeEcdsaVerifier();

/** The addon's verifier, counting the checks it makes. */
function counted(): { ecdsa: EcdsaVerifier; calls: () => number } {
  let calls = 0;
  return {
    ecdsa: {
      verify: (...args) => {
        calls++;
        return verifier!.verify(...args);
      },
    },
    calls: () => calls,
  };
}

describe('CSR signature check on the native addon', () => {
  it('is there: the server checks CSRs with it', () => {
    expect(verifier).toBeDefined();
  });

  const cases: Array<[string, Buffer, boolean]> = [
    ['a valid P-256 request', request(), true],
    ['a valid P-384 request (ECDSA with SHA-384)', request({ key: 'P-384', hash: 'sha384' }), true],
    ['a valid P-256 request signed with SHA-1', request({ hash: 'sha1' }), true],
    ['a valid P-256 request signed with SHA-512', request({ hash: 'sha512' }), true],
    ['a valid P-384 request signed with SHA-256', request({ key: 'P-384', hash: 'sha256' }), true],
    ['an altered request', request({ tamper: (info) => Buffer.from(info.toString('latin1').replace('a.example', 'b.example'), 'latin1') }), true],
    ['a signature by another key', request({ key: 'other', spki: spkiOf('P-256') }), true],
    ['a signature with a bit flipped', request({ signature: (s) => ((s[s.length - 1]! ^= 1), s) }), true],
    ['a signature with a byte after its DER', request({ signature: (s) => Buffer.concat([s, b('00')]) }), true],
    ['a signature as raw r‖s instead of DER', request({ signature: (s) => Buffer.alloc(64, s) }), true],
    ['an empty signature', request({ signature: () => Buffer.alloc(0) }), false],
    ['a signature of r = 0, s = 0', request({ signature: () => b('3006020100020100') }), true],
    ['a signature with a redundant leading zero in r', request({ signature: (s) => paddedR(s) }), true],
    ['a point off the curve', request({ spki: offCurve(spkiOf('P-256')) }), true],
    ['a P-384 point off the curve', request({ key: 'P-384', hash: 'sha384', spki: offCurve(spkiOf('P-384'), 60) }), true],
    ['a point of all zero coordinates', request({ spki: Buffer.concat([spkiOf('P-256').subarray(0, -64), Buffer.alloc(64)]) }), true],
    ['an RSA signature algorithm on an EC key', request({ algorithm: RSA_SHA256 }), false],
    ['a compressed point (node:crypto decodes it either way)', request({ spki: compressed('P-256') }), false],
    ['a P-521 key (not accepted for certificates)', request({ key: 'P-521', hash: 'sha512' }), false],
    ['an RSA request', request({ key: 'rsa', algorithm: RSA_SHA256 }), false],
  ];

  it.each(cases)('%s: the same outcome as node:crypto', async (_what, der, native) => {
    const { ecdsa, calls } = counted();
    const expected = await outcome(der, undefined);
    expect(await outcome(der, ecdsa)).toEqual(expected);
    // Requests with an uncompressed P-256/P-384 point and an ECDSA signature go to the addon; others
    // (and those refused before any signature check) do not.
    expect(calls()).toBe(native ? 1 : 0);
  });

  it('gives the expected verdicts (the comparison above is not two refusals of everything)', async () => {
    expect(await outcome(request(), verifier)).toHaveProperty('accepted');
    expect(await outcome(request({ key: 'P-384', hash: 'sha384' }), verifier)).toHaveProperty('accepted');
    expect(await outcome(request({ spki: offCurve(spkiOf('P-256')) }), verifier)).toEqual({ refused: "MalformedCSRException: The CSR's public key cannot be read." });
    expect(await outcome(request({ key: 'other', spki: spkiOf('P-256') }), verifier)).toEqual({
      refused: "MalformedCSRException: The CSR's signature does not verify: the request was altered, or not signed by the key it carries.",
    });
  });

  it('agrees with node:crypto on 300 requests with random bytes changed in the key, the signature or the signed part', async () => {
    let seed = 4242;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const good = request();
    const verdicts = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const der = Buffer.from(good);
      // The last ~170 bytes hold the point's coordinates (in the info) and the signature.
      for (let flips = 1 + next(2); flips > 0; flips--) der[der.length - 1 - next(170)]! ^= 1 << next(8);
      const expected = await outcome(der, undefined);
      expect(await outcome(der, verifier)).toEqual(expected);
      verdicts.add('accepted' in expected ? 'accepted' : expected.refused);
    }
    // Both refusals came up, not only one kind.
    expect(verdicts.size).toBeGreaterThanOrEqual(2);
  });

  it('refuses arguments outside its contract at once, with an addon error', async () => {
    const point = spkiOf('P-256').subarray(-65);
    const digest = createHash('sha256').update('x').digest();
    await expect(verifier!.verify('P-384', point, 'sha256', digest, digest)).rejects.toMatchObject({ code: 'ERR_ECDSA_VERIFY' });
    await expect(verifier!.verify('P-256', point, 'md5', digest, digest)).rejects.toMatchObject({ code: 'ERR_ECDSA_VERIFY' });
    await expect(verifier!.verify('P-256', point, 'sha256', Buffer.alloc(64 * 1024 + 1), digest)).rejects.toMatchObject({ code: 'ERR_ECDSA_VERIFY' });
  });
});
