/** The ids written in base-32 letters all come from core/base32 and keep AWS's shapes. */
import { describe, expect, it } from 'vitest';
import { generateAccessKeyId, generateUserId } from '../../src/core/admin/principals.js';
import { BASE32_ALPHABET, randomBase32 } from '../../src/core/base32.js';
import { XKS_ACCESS_KEY_ID } from '../../src/core/key-stores/rules.js';
import { newXksAccessKeyId } from '../../src/xks/credentials.js';

describe('base-32 ids', () => {
  it('draws every letter of A–Z, 2–7 and nothing else', () => {
    const seen = new Set(randomBase32(4096));
    expect([...seen].sort().join('')).toBe([...BASE32_ALPHABET].sort().join(''));
    expect(randomBase32(0)).toBe('');
  });

  it('gives access key ids, user ids and XKS access key ids their AWS shapes', () => {
    expect(generateAccessKeyId()).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(generateUserId()).toMatch(/^AIDA[A-Z2-7]{17}$/);
    const xks = newXksAccessKeyId();
    expect(xks).toMatch(/^[A-Z2-7]{26}$/);
    expect(XKS_ACCESS_KEY_ID.test(xks)).toBe(true);
    expect(new Set(Array.from({ length: 50 }, newXksAccessKeyId)).size).toBe(50);
  });

  it('takes 20–30 characters of A–Z and 2–7 as an XKS access key id', () => {
    expect(XKS_ACCESS_KEY_ID.test('A'.repeat(20))).toBe(true);
    expect(XKS_ACCESS_KEY_ID.test('7'.repeat(30))).toBe(true);
    for (const bad of ['A'.repeat(19), 'A'.repeat(31), `${'A'.repeat(19)}1`, `${'A'.repeat(19)}a`]) expect(XKS_ACCESS_KEY_ID.test(bad)).toBe(false);
  });
});
