import { describe, expect, it } from 'vitest';
import { canonicalEncryptionContext, encryptionContextConditions, MAX_ENCRYPTION_CONTEXT_BYTES } from '../../src/core/encryption-context.js';
import { KmsError } from '../../src/core/errors.js';

describe('canonicalEncryptionContext', () => {
  it('does not depend on the order the keys arrive in', () => {
    expect(canonicalEncryptionContext({ b: '2', a: '1', c: '3' })).toEqual(canonicalEncryptionContext({ c: '3', a: '1', b: '2' }));
  });

  it('encodes the empty context as a zero count', () => {
    expect(canonicalEncryptionContext({})).toEqual(Buffer.from([0, 0]));
  });

  it('is length-prefixed, so moving bytes between key and value changes the encoding', () => {
    expect(canonicalEncryptionContext({ a: 'bc' })).not.toEqual(canonicalEncryptionContext({ ab: 'c' }));
    expect(canonicalEncryptionContext({ a: 'b', c: 'd' })).not.toEqual(canonicalEncryptionContext({ a: 'b\u0000\u0001c' }));
  });

  it('has the documented layout, sorted by UTF-8 bytes', () => {
    const bytes = canonicalEncryptionContext({ 'é': 'x', z: '' });
    // 'z' (0x7a) sorts before 'é' (0xc3 0xa9) by UTF-8 bytes.
    expect(bytes.toString('hex')).toBe(['0002', '0001', '7a', '0000', '0002', 'c3a9', '0001', '78'].join(''));
  });

  it('sorts keys above U+FFFF after U+E000–FFFF, as their UTF-8 bytes do (not as UTF-16 code units)', () => {
    // '\u{1F600}' is 0xd83d 0xde00 in UTF-16, below 0xff5a ('ｚ'), but f0 9f 98 80 in UTF-8, above ef bd 9a.
    const keys = ['\u{1F600}', '\uff5a', '\ue000', 'a', '\u00e9', 'ab', '\u{10000}', '\ud7ff'];
    const context = Object.fromEntries(keys.map((k, i) => [k, `v${i}`]));
    const byUtf8 = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(byUtf8).toEqual(['a', 'ab', '\u00e9', '\ud7ff', '\ue000', '\uff5a', '\u{10000}', '\u{1F600}']);
    const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
    const expected = Buffer.concat([
      u16(keys.length),
      ...byUtf8.flatMap((k) => {
        const key = Buffer.from(k);
        const value = Buffer.from(context[k]!);
        return [u16(key.length), key, u16(value.length), value];
      }),
    ]);
    expect(canonicalEncryptionContext(context).toString('hex')).toBe(expected.toString('hex'));
  });

  it('distinguishes values that differ only in case or Unicode form', () => {
    expect(canonicalEncryptionContext({ k: 'V' })).not.toEqual(canonicalEncryptionContext({ k: 'v' }));
    expect(canonicalEncryptionContext({ k: '\u00e9' })).not.toEqual(canonicalEncryptionContext({ k: 'e\u0301' }));
  });

  it('rejects empty keys and oversized contexts with ValidationException', () => {
    expect(() => canonicalEncryptionContext({ '': 'v' })).toThrow(KmsError);
    const big = { k: 'x'.repeat(MAX_ENCRYPTION_CONTEXT_BYTES) };
    try {
      canonicalEncryptionContext(big);
      expect.unreachable();
    } catch (err) {
      expect((err as KmsError).type).toBe('ValidationException');
    }
    expect(canonicalEncryptionContext({ k: 'x'.repeat(MAX_ENCRYPTION_CONTEXT_BYTES - 1) }).length).toBe(2 + 4 + MAX_ENCRYPTION_CONTEXT_BYTES);
  });
});

describe('canonicalEncryptionContext and ill-formed UTF-16', () => {
  it('refuses unpaired surrogates, which UTF-8 would turn into the same U+FFFD bytes', () => {
    // The bytes would collide: the reason this must never be encoded.
    expect(Buffer.from('\ud800', 'utf8').equals(Buffer.from('\udbff', 'utf8'))).toBe(true);
    for (const context of [{ k: '\ud800' }, { k: '\udbff' }, { '\udc00': 'v' }, { k: 'a\ud83d' }] as Record<string, string>[])
      expect(() => canonicalEncryptionContext(context)).toThrowError(/well-formed Unicode/);
    expect(canonicalEncryptionContext({ k: '\ud83d\ude00' }).length).toBe(2 + 4 + 1 + 4);
  });
});

describe('encryptionContextConditions', () => {
  it('exposes each pair and the key list as policy condition keys', () => {
    expect(encryptionContextConditions({ Department: 'IT', Project: 'x' })).toEqual({
      'kms:EncryptionContext:Department': 'IT',
      'kms:EncryptionContext:Project': 'x',
      'kms:EncryptionContextKeys': ['Department', 'Project'],
    });
  });
});
