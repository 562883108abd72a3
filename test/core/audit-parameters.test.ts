import { describe, expect, it } from 'vitest';
import { AUDIT_LIMITS, AUDITED_PARAMETERS, auditParameters, isSecretMemberName, sanitizeAuditValue } from '../../src/core/audit-parameters.js';
import { serviceOperations } from '../../src/app.js';

const size = (value: unknown) => JSON.stringify(value).length;

describe('audited request parameters', () => {
  it('has an entry for every operation the service registers (AWS KMS and HsmKms.*), and lists no secret member', () => {
    const names = [...serviceOperations.keys()];
    expect(names).toContain('Encrypt');
    expect(names).toContain('HsmKms.PutPrincipalPolicy');
    for (const name of names) expect(AUDITED_PARAMETERS[name], name).toBeDefined();
    for (const [operation, members] of Object.entries(AUDITED_PARAMETERS))
      for (const member of members) expect(isSecretMemberName(member), `${operation}.${member}`).toBe(false);
  });

  it("keeps an operation's known members and drops everything else a caller sends", () => {
    const input = {
      KeyId: 'alias/app',
      Plaintext: 'U0VDUkVU',
      EncryptionContext: { purpose: 'test' },
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      GrantTokens: ['token'],
      Junk: 'x'.repeat(1_000_000),
      Nested: { deep: ['y'.repeat(500_000)] },
    };
    const kept = auditParameters('Encrypt', input);
    expect(kept).toStrictEqual({ KeyId: 'alias/app', EncryptionContext: { purpose: 'test' }, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
    expect(size(kept)).toBeLessThan(200);
  });

  it('keeps the safe members of HsmKms.* operations: a large identity policy cut, grant tokens never', () => {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*', Sid: 's'.repeat(40_000) }] });
    const put = auditParameters('HsmKms.PutPrincipalPolicy', { UserName: 'app', PolicyName: 'p', PolicyDocument: policy, Extra: 'x' });
    expect(Object.keys(put).sort()).toEqual(['PolicyDocument', 'PolicyName', 'UserName']);
    expect(put.PolicyDocument).toBe(`${policy.slice(0, AUDIT_LIMITS.topLevelString)}…[truncated: ${policy.length} characters]`);
    const explain = auditParameters('HsmKms.ExplainAuthorization', { UserName: 'app', Action: 'kms:Decrypt', KeyId: 'alias/a', GrantTokens: ['secret-token'] });
    expect(explain).toStrictEqual({ UserName: 'app', Action: 'kms:Decrypt', KeyId: 'alias/a' });
    expect(auditParameters('HsmKms.CreatePrincipal', { UserName: 'u', Roles: ['CryptoUser'], SecretAccessKey: 'never' })).toStrictEqual({ UserName: 'u', Roles: ['CryptoUser'] });
  });

  it('keeps only short scalar identifiers for an operation it does not know', () => {
    const kept = auditParameters('HsmKms.SomethingNew', {
      KeyId: 'k'.repeat(10_000),
      GrantId: 'g-1',
      AliasName: { not: 'a scalar' },
      PolicyName: 7,
      Policy: '{"Statement":[]}',
      Body: 'b'.repeat(100_000),
    });
    expect(Object.keys(kept).sort()).toEqual(['GrantId', 'KeyId', 'PolicyName']);
    expect(kept.KeyId).toMatch(new RegExp(`^k{${AUDIT_LIMITS.identifier}}…\\[truncated: 10000 characters\\]$`));
  });

  it('cuts long strings, lists and maps as CloudTrail does, saying how much was cut', () => {
    const tags = Array.from({ length: 200 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v'.repeat(5000) }));
    const context = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`key${i}`, `value${i}`]));
    expect(auditParameters('PutKeyPolicy', { Policy: 'p'.repeat(40_000) }).Policy).toBe(`${'p'.repeat(AUDIT_LIMITS.topLevelString)}…[truncated: 40000 characters]`);
    const kept = auditParameters('CreateKey', { Tags: tags, Description: 'short' });
    expect(kept.Description).toBe('short');
    const keptTags = kept.Tags as unknown[];
    expect(keptTags).toHaveLength(AUDIT_LIMITS.items + 1);
    expect(keptTags.at(-1)).toMatch(/^…\[\d+ more items\]$/);
    expect((keptTags[0] as { TagValue: string }).TagValue).toBe(`${'v'.repeat(AUDIT_LIMITS.nestedString)}…[truncated: 5000 characters]`);
    const keptContext = auditParameters('Decrypt', { EncryptionContext: context }).EncryptionContext as Record<string, string>;
    expect(Object.keys(keptContext)).toHaveLength(AUDIT_LIMITS.items + 1);
    expect(keptContext['…']).toBe('[70 more members]');
  });

  it('bounds the whole record however the input is shaped', () => {
    const manyTiny = Array.from({ length: 100_000 }, () => [[[['x']]]]);
    const wide = Array.from({ length: 50 }, () => Array.from({ length: 50 }, () => 'z'.repeat(2000)));
    for (const value of [manyTiny, wide]) {
      const kept = auditParameters('TagResource', { KeyId: 'k', Tags: value });
      expect(size(kept)).toBeLessThan(AUDIT_LIMITS.totalCharacters + 10_000);
    }
    const deep: Record<string, unknown> = {};
    let cursor = deep;
    for (let i = 0; i < 5000; i++) cursor = (cursor.next = {}) as Record<string, unknown>;
    expect(() => JSON.stringify(auditParameters('CreateGrant', { Constraints: deep }))).not.toThrow();
  });

  it('never cuts a string inside a surrogate pair', () => {
    const emoji = '😀'.repeat(AUDIT_LIMITS.topLevelString);
    const kept = auditParameters('UpdateKeyDescription', { Description: emoji }).Description as string;
    expect(kept).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(Buffer.from(kept, 'utf8').toString('utf8')).toBe(kept);
  });

  it('drops secrets, binary values and functions at any depth inside a kept structure', () => {
    const clean = sanitizeAuditValue({
      KeyId: 'alias/app',
      nested: { SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG', userPin: '97531', list: [{ Plaintext: 'x', keep: 1 }] },
      raw: Buffer.from('binary secret'),
      password: 'hunter2',
      fn: () => 1,
      big: 10n,
      when: new Date(5),
      inf: Infinity,
      MessageType: 'RAW',
    });
    expect(clean).toStrictEqual({ KeyId: 'alias/app', nested: { list: [{ keep: 1 }] }, big: '10', when: '1970-01-01T00:00:00.005Z', inf: 'Infinity', MessageType: 'RAW' });
  });

  it('stops at cycles, and keeps a member named __proto__ as a member', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => JSON.stringify(sanitizeAuditValue(cyclic))).not.toThrow();
    const kept = auditParameters('Encrypt', JSON.parse('{"EncryptionContext":{"__proto__":{"polluted":true},"b":"c"}}') as Record<string, unknown>);
    const context = kept.EncryptionContext as Record<string, unknown>;
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(context))).toEqual(JSON.parse('{"__proto__":{"polluted":true},"b":"c"}'));
  });
});
