/** The strict reader of callers' EC public keys (src/core/ec-spki.ts) against node:crypto's and openssl's own encodings. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { ecSpkiCurve, ecSpkiPoint } from '../../src/core/ec-spki.js';

const CURVES = ['prime256v1', 'secp384r1', 'secp521r1', 'secp256k1'] as const;

describe('ecSpkiPoint', () => {
  it.each(CURVES)('%s: the SPKI node:crypto writes and the compressed one openssl writes give the same point', (curve) => {
    const pair = generateKeyPairSync('ec', { namedCurve: curve });
    const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
    const point = ecSpkiPoint(spki, curve);
    expect(point).toBeDefined();
    expect(spki.subarray(spki.length - point!.length)).toStrictEqual(point);
    expect(ecSpkiCurve(spki)).toBe(curve);
    for (const other of CURVES) if (other !== curve) expect(ecSpkiPoint(spki, other)).toBeUndefined();
    const compressed = execFileSync('openssl', ['ec', '-pubin', '-inform', 'DER', '-outform', 'DER', '-conv_form', 'compressed'], { input: spki, stdio: ['pipe', 'pipe', 'ignore'] });
    expect(compressed.length).toBeLessThan(spki.length);
    expect(ecSpkiPoint(compressed, curve)).toStrictEqual(point);
    expect(ecSpkiCurve(compressed)).toBe(curve);
  });

  it('refuses the point at infinity, off-curve points, explicit parameters, trailing bytes and nothing', () => {
    expect(ecSpkiPoint(Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex'), 'prime256v1')).toBeUndefined();
    const spki = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    const off = Buffer.from(spki);
    off[off.length - 1]! ^= 1;
    expect(ecSpkiPoint(off, 'prime256v1')).toBeUndefined();
    expect(ecSpkiPoint(Buffer.concat([spki, Buffer.alloc(1)]), 'prime256v1')).toBeUndefined();
    const explicit = generateKeyPairSync('ec', { namedCurve: 'prime256v1', paramEncoding: 'explicit' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(ecSpkiPoint(explicit, 'prime256v1')).toBeUndefined();
    expect(ecSpkiCurve(explicit)).toBeUndefined();
    expect(ecSpkiPoint(new Uint8Array(0), 'prime256v1')).toBeUndefined();
  });
});
