/** The canonical call hash that binds an approval to exactly one call. */
import { describe, expect, it } from 'vitest';
import { callHash, canonicalJson } from '../../../src/core/quorum/index.js';

const base = { callerArn: 'arn:aws:iam::111122223333:user/a', operation: 'ScheduleKeyDeletion', keyArn: 'arn:aws:kms:us-east-1:111122223333:key/k' };

describe('canonical call hash', () => {
  it('ignores member order at every level, and the volatile GrantTokens and DryRun', () => {
    const a = callHash({ ...base, input: { KeyId: 'k', PendingWindowInDays: 7, Tags: [{ TagKey: 'x', TagValue: 'y' }] } });
    const b = callHash({ ...base, input: { Tags: [{ TagValue: 'y', TagKey: 'x' }], PendingWindowInDays: 7, KeyId: 'k', GrantTokens: ['t'], DryRun: true } });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toBe(a);
  });

  it('changes with any value, the caller, the operation, the resolved key, or array order', () => {
    const input = { KeyId: 'k', PendingWindowInDays: 7, List: [1, 2] };
    const reference = callHash({ ...base, input });
    const variants = [
      callHash({ ...base, input: { ...input, PendingWindowInDays: 8 } }),
      callHash({ ...base, input: { ...input, PendingWindowInDays: '7' } }),
      callHash({ ...base, input: { ...input, Extra: null } }),
      callHash({ ...base, input: { ...input, List: [2, 1] } }),
      callHash({ ...base, callerArn: 'arn:aws:iam::111122223333:user/b', input }),
      callHash({ ...base, operation: 'DisableKey', input }),
      callHash({ ...base, keyArn: 'arn:aws:kms:us-east-1:111122223333:key/other', input }),
      callHash({ ...base, keyArn: undefined, input }),
    ];
    expect(new Set([reference, ...variants]).size).toBe(variants.length + 1);
  });

  it('writes canonical JSON without whitespace, and refuses absurd nesting with ValidationException', () => {
    expect(canonicalJson({ b: [1, 'x', true, null], a: { d: 1.5, c: '\u2028' } })).toBe('{"a":{"c":"\u2028","d":1.5},"b":[1,"x",true,null]}');
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => callHash({ ...base, input: { Deep: deep } })).toThrow(expect.objectContaining({ type: 'ValidationException' }));
  });
});
