import { describe, expect, it } from 'vitest';
import {
  AUDIT_RECORD_VERSION,
  AuditRecordError,
  formatAuditRecord,
  parseAuditRecord,
  redactSecrets,
} from '../../src/audit/index.js';
import type { AuditEvent } from '../../src/core/ports.js';

const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const full: AuditEvent = {
  eventTime: new Date('2026-01-02T03:04:05.678Z'),
  eventName: 'Encrypt',
  requestId: 'req-1',
  principalArn: 'arn:aws:iam::111122223333:user/app',
  sourceIp: '192.0.2.7',
  userAgent: 'aws-sdk-js/3',
  resources: [KEY_ARN],
  requestParameters: { KeyId: 'alias/app', EncryptionContext: { purpose: 'test' } },
  errorCode: 'DisabledException',
  errorMessage: `${KEY_ARN} is disabled.`,
};

describe('audit record format', () => {
  it('writes CloudTrail field names and a version', () => {
    const doc = JSON.parse(formatAuditRecord(full)) as Record<string, unknown>;
    expect(doc).toStrictEqual({
      eventVersion: AUDIT_RECORD_VERSION,
      eventTime: '2026-01-02T03:04:05.678Z',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Encrypt',
      requestID: 'req-1',
      userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/app', accountId: '111122223333' },
      sourceIPAddress: '192.0.2.7',
      userAgent: 'aws-sdk-js/3',
      resources: [{ ARN: KEY_ARN, type: 'AWS::KMS::Key' }],
      requestParameters: { KeyId: 'alias/app', EncryptionContext: { purpose: 'test' } },
      errorCode: 'DisabledException',
      errorMessage: `${KEY_ARN} is disabled.`,
    });
  });

  it('round-trips full and minimal events', () => {
    expect(parseAuditRecord(formatAuditRecord(full))).toStrictEqual(full);
    const minimal: AuditEvent = {
      eventTime: new Date(0),
      eventName: 'ListKeys',
      requestId: 'req-2',
      principalArn: 'arn:aws:iam::111122223333:root',
      resources: [],
    };
    const line = formatAuditRecord(minimal);
    expect(JSON.parse(line)).toMatchObject({ userIdentity: { type: 'Root' } });
    expect(line).not.toContain('null');
    expect(parseAuditRecord(line)).toStrictEqual(minimal);
  });

  it('keeps each record on one line whatever the fields contain', () => {
    const line = formatAuditRecord({ ...full, userAgent: 'evil\nagent\r\u2028', errorMessage: 'two\nlines' });
    expect(line.split('\n')).toHaveLength(1);
    expect(parseAuditRecord(line).userAgent).toBe('evil\nagent\r\u2028');
  });

  it('drops plaintext, ciphertext, key material and secrets at any depth', () => {
    const event: AuditEvent = {
      ...full,
      requestParameters: {
        KeyId: 'alias/app',
        Plaintext: 'U0VDUkVUIFBMQUlOVEVYVA==',
        CiphertextBlob: 'AQIDBA==',
        EncryptedKeyMaterial: 'AAAA',
        nested: { SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG', userPin: '97531', list: [{ Plaintext: 'x', keep: 1 }] },
        raw: Buffer.from('binary secret'),
        password: 'hunter2',
        MessageType: 'RAW',
        KeyMaterialId: 'f'.repeat(64),
      },
    };
    const line = formatAuditRecord(event);
    for (const secret of ['U0VDUkVU', 'AQIDBA', 'AAAA', 'wJalrXUtnFEMI', '97531', 'hunter2', 'binary']) {
      expect(line).not.toContain(secret);
    }
    expect(parseAuditRecord(line).requestParameters).toStrictEqual({
      KeyId: 'alias/app',
      nested: { list: [{ keep: 1 }] },
      MessageType: 'RAW',
      KeyMaterialId: 'f'.repeat(64),
    });
  });

  it('turns values JSON cannot hold into safe ones and stops at cycles', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const clean = redactSecrets({ big: 10n, when: new Date(5), inf: Infinity, fn: () => 1, cyclic }) as Record<string, unknown>;
    expect(clean.big).toBe('10');
    expect(clean.when).toBe('1970-01-01T00:00:00.005Z');
    expect(clean.inf).toBe('Infinity');
    expect('fn' in clean).toBe(false);
    expect(() => JSON.stringify(clean)).not.toThrow();
  });

  it('rejects malformed lines with AuditRecordError', () => {
    const good = JSON.parse(formatAuditRecord(full)) as Record<string, unknown>;
    const variants: [string, string][] = [
      ['not JSON', '{"eventVersion":'],
      ['empty', ''],
      ['an array', '[]'],
      ['a string', '"x"'],
      ['no version', JSON.stringify({ ...good, eventVersion: undefined })],
      ['a future major version', JSON.stringify({ ...good, eventVersion: '2.0' })],
      ['a numeric version', JSON.stringify({ ...good, eventVersion: 1 })],
      ['a bad time', JSON.stringify({ ...good, eventTime: 'yesterday' })],
      ['no event name', JSON.stringify({ ...good, eventName: undefined })],
      ['no request id', JSON.stringify({ ...good, requestID: 7 })],
      ['no identity', JSON.stringify({ ...good, userIdentity: undefined })],
      ['an identity without ARN', JSON.stringify({ ...good, userIdentity: { type: 'Root' } })],
      ['resources not a list', JSON.stringify({ ...good, resources: KEY_ARN })],
      ['a resource without ARN', JSON.stringify({ ...good, resources: [{ type: 'AWS::KMS::Key' }] })],
      ['parameters not an object', JSON.stringify({ ...good, requestParameters: ['x'] })],
      ['a numeric error code', JSON.stringify({ ...good, errorCode: 400 })],
    ];
    for (const [what, line] of variants) {
      expect(() => parseAuditRecord(line), what).toThrow(AuditRecordError);
    }
  });

  it('reads later minor versions', () => {
    const line = JSON.stringify({ ...(JSON.parse(formatAuditRecord(full)) as object), eventVersion: '1.7', addedLater: true });
    expect(parseAuditRecord(line).eventName).toBe('Encrypt');
  });
});
