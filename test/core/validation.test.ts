/** Request validation: AWS's limits on lists and maps, well-formed strings, bounded nesting. */
import { describe, expect, it } from 'vitest';
import { KmsError } from '../../src/core/errors.js';
import {
  GRANT_TOKENS_RULE,
  POLICY_RULE,
  optionalStringList,
  requiredString,
} from '../../src/core/validation.js';

function thrown(fn: () => unknown): KmsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsError);
    return error as KmsError;
  }
  throw new Error('expected a KmsError');
}

describe('optionalStringList', () => {
  it('checks the count first, then each member, with AWS wording', () => {
    const eleven = Array.from({ length: 11 }, () => 'token');
    expect(thrown(() => optionalStringList({ GrantTokens: eleven }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toBe(
      "1 validation error detected: Value '[11 items]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
    // An oversized list of non-strings is refused for its size, without looking at the items.
    expect(thrown(() => optionalStringList({ GrantTokens: Array(100_000).fill({}) }, 'GrantTokens', GRANT_TOKENS_RULE)).type).toBe('ValidationException');
    expect(thrown(() => optionalStringList({ GrantTokens: ['ok', ''] }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toBe(
      "1 validation error detected: Value '' at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length greater than or equal to 1]",
    );
    expect(thrown(() => optionalStringList({ GrantTokens: ['x'.repeat(8193)] }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toContain(
      'Member must have length less than or equal to 8192',
    );
    expect(thrown(() => optionalStringList({ GrantTokens: [1] }, 'GrantTokens', GRANT_TOKENS_RULE)).type).toBe('SerializationException');
    expect(optionalStringList({ GrantTokens: ['a', 'b'] }, 'GrantTokens', GRANT_TOKENS_RULE)).toEqual(['a', 'b']);
  });
});

describe('POLICY_RULE', () => {
  it("takes AWS's length and character set: tab, newline, carriage return and U+0020–U+00FF", () => {
    expect(requiredString({ Policy: '{\t"Version":\r\n"2012-10-17" é}' }, 'Policy', POLICY_RULE)).toBeDefined();
    expect(thrown(() => requiredString({ Policy: '{"Sid":"☃"}' }, 'Policy', POLICY_RULE)).message).toContain('regular expression pattern');
    expect(thrown(() => requiredString({ Policy: '{\u0000}' }, 'Policy', POLICY_RULE)).type).toBe('ValidationException');
    expect(thrown(() => requiredString({ Policy: 'x'.repeat(131073) }, 'Policy', POLICY_RULE)).message).toContain('less than or equal to 131072');
  });
});
