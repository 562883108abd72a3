import { describe, expect, it } from 'vitest';
import { compileGlob, compileGlobTokens, globMatch, QUESTION, STAR, UNMETERED, WorkLimitExceeded, WorkMeter } from '../../../src/core/policy/glob.js';
import { actionMatches } from '../../../src/core/policy/matching.js';
import { seededRandom } from './seeded-random.js';

/** The textbook dynamic-programming matcher: obviously right, O(n·m) always; the reference. */
function reference(pattern: string, text: string): boolean {
  const m = pattern.length;
  const n = text.length;
  let row = new Array<boolean>(n + 1).fill(false);
  row[0] = true;
  for (let i = 1; i <= m; i++) {
    const p = pattern[i - 1];
    const next = new Array<boolean>(n + 1).fill(false);
    next[0] = p === '*' && row[0]!;
    for (let j = 1; j <= n; j++)
      next[j] = p === '*' ? row[j]! || next[j - 1]! : (p === '?' || p === text[j - 1]) && row[j - 1]!;
    row = next;
  }
  return row[n]!;
}

describe('glob', () => {
  it.each([
    ['kms:*', 'kms:Decrypt', true],
    ['kms:Generate*', 'kms:GenerateDataKeyPair', true],
    ['kms:ReEncrypt*', 'kms:ReEncryptFrom', true],
    ['kms:ReEncrypt*', 'kms:Encrypt', false],
    ['*', '', true],
    ['', '', true],
    ['', 'a', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*a*b*', 'xxaxxbxx', true],
    ['*a*b*', 'xxbxxaxx', false],
    ['ab*ba', 'aba', false],
    ['ab*ba', 'abba', true],
    ['alias/*test*', 'alias/my-test-key', true],
    ['a*', 'A', false],
  ])('%j matches %j: %s', (pattern, text, expected) => {
    expect(globMatch(compileGlob(pattern), text, UNMETERED)).toBe(expected);
  });

  it('agrees with the reference matcher on 20,000 random pattern/text pairs', () => {
    const random = seededRandom(7);
    const pick = (alphabet: string, max: number) => Array.from({ length: random.int(max) }, () => random.pick([...alphabet])).join('');
    for (let i = 0; i < 20_000; i++) {
      const pattern = pick('ab*?', 8);
      const text = pick('ab', 10);
      expect(globMatch(compileGlob(pattern), text, UNMETERED), `${pattern} ~ ${text}`).toBe(reference(pattern, text));
    }
  });

  it('ignores case when asked, on both sides', () => {
    expect(globMatch(compileGlob('KMS:Put*', true), 'kms:putkeypolicy', UNMETERED)).toBe(true);
    expect(actionMatches('kms:putkeypolicy', 'KMS:PutKeyPolicy')).toBe(true);
  });

  it('treats literal text from tokens as literal, even * and ?', () => {
    const glob = compileGlobTokens(['a*b', STAR, '?', QUESTION]);
    expect(globMatch(glob, 'a*bxx?z', UNMETERED)).toBe(true);
    expect(globMatch(glob, 'axbxx?z', UNMETERED)).toBe(false);
    expect(globMatch(glob, 'a*bxxzz', UNMETERED)).toBe(false);
  });

  // issue 9 item 1: `kms:` + 22×`*` + `Z` froze the server for 18 s through a backtracking regex.
  it.each([
    ['the issue’s pattern', `kms:${'*'.repeat(22)}Z`, 'kms:PutKeyPolicy'],
    ['stars between letters', `${'a*'.repeat(1000)}b`, 'a'.repeat(2000)],
    ['a long middle segment', `*${'a'.repeat(2000)}b*`, 'a'.repeat(4000)],
    ['question marks and stars', `${'?*'.repeat(2000)}Z`, 'x'.repeat(4000)],
  ])('matches %s in counted, bounded steps', (_name, pattern, text) => {
    const meter = new WorkMeter(Infinity);
    expect(globMatch(compileGlob(pattern), text, meter)).toBe(false);
    // Never worse than |pattern| × |text| comparisons (plus one per segment).
    expect(meter.steps).toBeLessThanOrEqual(pattern.length * text.length + pattern.length + 1);
  });

  it('finds the issue’s pattern false within a dozen steps', () => {
    const meter = new WorkMeter(Infinity);
    expect(globMatch(compileGlob(`kms:${'*'.repeat(22)}Z`, true), 'kms:putkeypolicy', meter)).toBe(false);
    expect(meter.steps).toBeLessThan(40);
  });

  it('stops when the meter runs out', () => {
    const meter = new WorkMeter(1000);
    expect(() => globMatch(compileGlob(`*${'a'.repeat(500)}b*`), 'a'.repeat(5000), meter)).toThrow(WorkLimitExceeded);
  });
});
