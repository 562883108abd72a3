import { describe, expect, it } from 'vitest';
import { firstDuplicateMember } from '../../../src/core/policy/duplicate-members.js';
import { compilePolicy } from '../../../src/core/policy/compile.js';
import { parsePolicyDocument } from '../../../src/core/policy/policy-document.js';

describe('firstDuplicateMember', () => {
  it('finds a name repeated within one object, decoded, at any depth', () => {
    expect(firstDuplicateMember('{"a":1,"a":2}')).toBe('a');
    expect(firstDuplicateMember('{"a":1,"\\u0061":2}')).toBe('a');
    expect(firstDuplicateMember('{"x":[{"b":"a","c":{"d":[1,{"e":1,"e":2}]}}]}')).toBe('e');
    expect(firstDuplicateMember('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')).toBeUndefined();
  });

  it('is not misled by strings that look like members or structure', () => {
    expect(firstDuplicateMember('{"a":"\\",\\"a\\":","b":"{\\"b\\":1,","c":"[,"}')).toBeUndefined();
    expect(firstDuplicateMember('[{"a":1},"a",{"a":2}]')).toBeUndefined();
    expect(firstDuplicateMember(' { "a" : [ "a" , "a" ] , "b" : { } , "a" : null } ')).toBe('a');
  });
});

describe('stored policies with a repeated member', () => {
  it('are refused when written but still compile when read back (last copy wins, as before)', () => {
    const text =
      '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Effect":"Allow"}]}';
    expect(() => parsePolicyDocument(text)).toThrow(/repeats the member "Effect"/);
    expect(compilePolicy(text).statements[0]?.effect).toBe('Allow');
  });
});
