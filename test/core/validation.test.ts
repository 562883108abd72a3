/** Request validation: AWS's limits on lists and maps, well-formed strings, bounded nesting. */
import { describe, expect, it } from 'vitest';
import { thrownKmsError } from '../support/errors.js';
import {
  GRANT_TOKENS_RULE,
  KEY_MATERIAL_ID_RULE,
  MAX_INPUT_DEPTH,
  POLICY_RULE,
  checkRequestInput,
  optionalStringList,
  optionalStringMap,
  requiredString,
} from '../../src/core/validation.js';
import { newKeyMaterialId } from '../../src/core/operations/key-updates.js';

describe('checkRequestInput', () => {
  it('accepts well-formed strings, surrogate pairs included', () => {
    expect(() => checkRequestInput({ KeyId: 'alias/x', EncryptionContext: { 'emoji 🔑': 'value 😀' }, Tags: [{ TagKey: 'k', TagValue: '' }] })).not.toThrow();
  });

  it('refuses a lone surrogate anywhere, in values and member names, naming where', () => {
    const cases: [unknown, string][] = [
      [{ Description: '\ud800' }, "at 'description'"],
      [{ EncryptionContext: { a: 'x\udbff' } }, "at 'encryptionContext.a'"],
      [{ EncryptionContext: { '\udc00': 'x' } }, "at 'encryptionContext.<member name>'"],
      [{ TagKeys: ['ok', '\udfff'] }, "at 'tagKeys.2.member'"],
      [{ Tags: [{ TagKey: 'k', TagValue: '\ud800\ud800' }] }, "at 'tags.1.member.TagValue'"],
      [{ '\ud800': 1 }, "at '<member name>'"],
    ];
    for (const [input, where] of cases) {
      const error = thrownKmsError(() => checkRequestInput(input as Record<string, unknown>));
      expect(error.type).toBe('ValidationException');
      expect(error.message).toContain(where);
      expect(error.message).toContain('well-formed Unicode');
    }
  });

  it(`refuses nesting deeper than ${MAX_INPUT_DEPTH} levels without recursing`, () => {
    let shallow: unknown = 'x';
    for (let i = 0; i < MAX_INPUT_DEPTH - 1; i++) shallow = [shallow];
    expect(() => checkRequestInput({ A: shallow })).not.toThrow();
    // 200,000 levels: a recursive walk would overflow the stack.
    const deep = JSON.parse(`{"A":${'['.repeat(200_000)}${']'.repeat(200_000)}}`) as Record<string, unknown>;
    const error = thrownKmsError(() => checkRequestInput(deep));
    expect(error.type).toBe('SerializationException');
    expect(error.message).toBe(`The request body nests deeper than ${MAX_INPUT_DEPTH} levels.`);
  });
});

describe('optionalStringMap (EncryptionContext)', () => {
  it('refuses lone surrogates, empty keys and more than 8192 bytes of UTF-8, and accepts up to that', () => {
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: { a: '\ud800' } }, 'EncryptionContext')).message).toContain('well-formed Unicode');
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: { '': 'v' } }, 'EncryptionContext')).type).toBe('ValidationException');
    const full = { k: 'é'.repeat((8192 - 1) / 2) }; // 1 + 8191 bytes
    expect(optionalStringMap({ EncryptionContext: full }, 'EncryptionContext')).toBe(full);
    const over = { k: 'é'.repeat(4096) };
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: over }, 'EncryptionContext')).message).toContain('at most 8192 bytes');
    const manyPairs = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, '']));
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: manyPairs }, 'EncryptionContext')).type).toBe('ValidationException');
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: { a: 1 } }, 'EncryptionContext')).type).toBe('SerializationException');
    expect(thrownKmsError(() => optionalStringMap({ EncryptionContext: ['a'] }, 'EncryptionContext')).type).toBe('SerializationException');
  });
});

describe('optionalStringList', () => {
  it('checks the count first, then each member, with AWS wording', () => {
    const eleven = Array.from({ length: 11 }, () => 'token');
    expect(thrownKmsError(() => optionalStringList({ GrantTokens: eleven }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toBe(
      "1 validation error detected: Value '[11 items]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
    // An oversized list of non-strings is refused for its size, without looking at the items.
    expect(thrownKmsError(() => optionalStringList({ GrantTokens: Array(100_000).fill({}) }, 'GrantTokens', GRANT_TOKENS_RULE)).type).toBe('ValidationException');
    expect(thrownKmsError(() => optionalStringList({ GrantTokens: ['ok', ''] }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toBe(
      "1 validation error detected: Value '' at 'grantTokens' failed to satisfy constraint: Member must satisfy constraint: [Member must have length greater than or equal to 1]",
    );
    expect(thrownKmsError(() => optionalStringList({ GrantTokens: ['x'.repeat(8193)] }, 'GrantTokens', GRANT_TOKENS_RULE)).message).toContain(
      'Member must have length less than or equal to 8192',
    );
    expect(thrownKmsError(() => optionalStringList({ GrantTokens: [1] }, 'GrantTokens', GRANT_TOKENS_RULE)).type).toBe('SerializationException');
    expect(optionalStringList({ GrantTokens: ['a', 'b'] }, 'GrantTokens', GRANT_TOKENS_RULE)).toEqual(['a', 'b']);
  });
});

describe('POLICY_RULE', () => {
  it("takes AWS's length and character set: tab, newline, carriage return and U+0020–U+00FF", () => {
    expect(requiredString({ Policy: '{\t"Version":\r\n"2012-10-17" é}' }, 'Policy', POLICY_RULE)).toBeDefined();
    expect(thrownKmsError(() => requiredString({ Policy: '{"Sid":"☃"}' }, 'Policy', POLICY_RULE)).message).toContain('regular expression pattern');
    expect(thrownKmsError(() => requiredString({ Policy: '{\u0000}' }, 'Policy', POLICY_RULE)).type).toBe('ValidationException');
    expect(thrownKmsError(() => requiredString({ Policy: 'x'.repeat(131073) }, 'Policy', POLICY_RULE)).message).toContain('less than or equal to 131072');
  });

  it('takes a KeyMaterialId as 64 lower-case hex characters, the shape of the ids it makes', () => {
    const id = newKeyMaterialId();
    expect(requiredString({ KeyMaterialId: id }, 'KeyMaterialId', KEY_MATERIAL_ID_RULE)).toBe(id);
    for (const bad of [id.toUpperCase(), id.slice(1), `${id}0`, `${id.slice(1)}g`])
      expect(thrownKmsError(() => requiredString({ KeyMaterialId: bad }, 'KeyMaterialId', KEY_MATERIAL_ID_RULE)).type).toBe('ValidationException');
  });
});
