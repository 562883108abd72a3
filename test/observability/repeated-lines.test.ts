import { describe, expect, it } from 'vitest';
import { RepeatedLines } from '../../src/observability/repeated-lines.js';

describe('RepeatedLines', () => {
  it('logs a line first, then at most once per interval with the count held back', () => {
    let now = 1_000_000;
    const lines = new RepeatedLines(60_000, () => now);
    expect(lines.active).toBe(false);
    expect(lines.admit('refused')).toEqual({});
    expect(lines.active).toBe(true);
    for (let i = 0; i < 5; i++) expect(lines.admit('refused')).toBeUndefined();
    // Another line is not held back by the first one's interval.
    expect(lines.admit('token gone')).toEqual({});
    now += 59_999;
    expect(lines.admit('refused')).toBeUndefined();
    now += 1;
    expect(lines.admit('refused')).toEqual({ suppressed: 6 });
    expect(lines.admit('refused')).toBeUndefined();
  });

  it('logs every line at once again after a reset (a change of state), which counts what was held back', () => {
    let now = 0;
    const lines = new RepeatedLines(60_000, () => now);
    lines.admit('a');
    lines.admit('a');
    lines.admit('b');
    lines.admit('b');
    lines.admit('b');
    expect(lines.reset()).toBe(3);
    expect(lines.active).toBe(false);
    expect(lines.admit('a')).toEqual({});
    now -= 3_600_000;
    // A clock set back does not hold lines back for the jump.
    expect(lines.admit('a')).toEqual({});
  });

  it('remembers a bounded number of distinct lines', () => {
    const lines = new RepeatedLines(60_000, () => 0);
    for (let i = 0; i < 1000; i++) expect(lines.admit(`line ${i}`)).toEqual({});
    expect(lines.reset()).toBe(0);
  });
});
