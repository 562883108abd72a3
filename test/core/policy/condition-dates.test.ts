import { describe, expect, it } from 'vitest';
import { parseDate } from '../../../src/core/policy/condition-values.js';

describe('IAM dates in conditions', () => {
  it('are only dates that exist: no day or hour rolls over into another', () => {
    expect(parseDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    expect(parseDate('2026-12-31T23:59:59Z')).toBe(Date.UTC(2026, 11, 31, 23, 59, 59));
    expect(parseDate('2026-01-01T01:00:00+02:00')).toBe(Date.UTC(2025, 11, 31, 23));
    // Before: 2 March 2026, 1 March 2026 (2025 is no leap year), 1 May, 2 January.
    for (const text of ['2026-02-30', '2025-02-29', '2026-04-31', '2026-01-01T24:00:00Z', '2026-00-10', '2026-13-01', '2026-01-00'])
      expect({ text, ms: parseDate(text) }).toEqual({ text, ms: undefined });
  });

});
