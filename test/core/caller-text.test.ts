import { describe, expect, it } from 'vitest';
import { callerText } from '../../src/core/caller-text.js';

describe('callerText', () => {
  it('leaves text within the limit as it is', () => {
    expect(callerText('', 4)).toBe('');
    expect(callerText('abcd', 4)).toBe('abcd');
  });

  it('cuts longer text to the limit and marks the cut', () => {
    expect(callerText('abcde', 4)).toBe('abcd…');
    expect(callerText('x'.repeat(100_000), 128)).toHaveLength(129);
  });

  it('never leaves half of a surrogate pair at the cut', () => {
    // '😀' is two UTF-16 code units; a cut after its first would leave a lone high surrogate.
    expect(callerText('abc😀def', 4)).toBe('abc…');
    expect(callerText('abc😀def', 5)).toBe('abc😀…');
  });
});
