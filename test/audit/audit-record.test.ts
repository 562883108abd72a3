import { describe, expect, it } from 'vitest';
import {
  AUDIT_RECORD_VERSION,
  AuditRecordError,
  formatCallLine,
  GENESIS_HASH,
  lineHash,
  parseCallLine,
  parseLine,
  type ChainLink,
} from '../../src/audit/index.js';
import { digestSignedText, formatDigestLine } from '../../src/audit/audit-record.js';
import { auditParameters } from '../../src/core/audit-parameters.js';
import type { AuditEvent } from '../../src/core/ports.js';

const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const LINK: ChainLink = { nodeId: 'host-w0', sequence: 7, previousHash: 'ab'.repeat(32) };

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

const digestFields = {
  nodeId: 'host-w0',
  sequence: 9,
  previousHash: 'cd'.repeat(32),
  eventTime: '2026-01-02T03:05:00.000Z',
  digestStartSequence: 1,
  digestEndSequence: 8,
  digestStartTime: '2026-01-02T03:00:00.000Z',
  digestEndTime: '2026-01-02T03:04:59.000Z',
  publicKeyFingerprint: 'ef'.repeat(32),
};
const digestLine = formatDigestLine(digestSignedText(digestFields), Buffer.from('a DER signature, for the format only'));

describe('audit record format', () => {
  it('writes the chain link first, then CloudTrail field names', () => {
    const line = formatCallLine(full, LINK);
    expect(Object.keys(JSON.parse(line) as object).slice(0, 5)).toEqual(['eventVersion', 'eventType', 'nodeId', 'sequence', 'previousHash']);
    expect(JSON.parse(line)).toStrictEqual({
      eventVersion: AUDIT_RECORD_VERSION,
      eventType: 'AwsApiCall',
      nodeId: 'host-w0',
      sequence: 7,
      previousHash: 'ab'.repeat(32),
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

  it('round-trips full and minimal events, and the chain link', () => {
    expect(parseCallLine(formatCallLine(full, LINK))).toStrictEqual(full);
    const minimal: AuditEvent = { eventTime: new Date(0), eventName: 'ListKeys', requestId: 'req-2', principalArn: 'arn:aws:iam::111122223333:root', resources: [] };
    const line = formatCallLine(minimal, { nodeId: 'n', sequence: 1, previousHash: GENESIS_HASH });
    expect(JSON.parse(line)).toMatchObject({ userIdentity: { type: 'Root' } });
    expect(line).not.toContain('null');
    expect(parseCallLine(line)).toStrictEqual(minimal);
    expect(parseLine(line).link).toEqual({ nodeId: 'n', sequence: 1, previousHash: GENESIS_HASH });
  });

  it('carries event fields it does not know (additionalEventData) through under their own names', () => {
    const withExtra = { ...full, additionalEventData: { authorization: 'deny', grantId: 'g-1', quorum: ['a', 'b'] } } as AuditEvent;
    const line = formatCallLine(withExtra, LINK);
    expect(JSON.parse(line)).toMatchObject({ additionalEventData: { authorization: 'deny', grantId: 'g-1', quorum: ['a', 'b'] } });
    expect(parseCallLine(line)).toStrictEqual(withExtra);
    // …but never over the chain or the format's own fields.
    const sneaky = { ...full, sequence: 99, previousHash: 'x', nodeId: 'other' } as unknown as AuditEvent;
    expect(parseLine(formatCallLine(sneaky, LINK)).link).toEqual(LINK);
  });

  it('records the service\'s own work as an AwsServiceEvent and an offline command as its operator, and reads both back', () => {
    const service: AuditEvent = {
      eventTime: full.eventTime,
      eventName: 'DeleteKey',
      requestId: 'req-s',
      principalArn: 'kms.amazonaws.com',
      resources: [KEY_ARN],
      actor: { type: 'AWSService', invokedBy: 'kms.amazonaws.com' },
    };
    const serviceLine = JSON.parse(formatCallLine(service, LINK)) as Record<string, unknown>;
    expect(serviceLine).toMatchObject({ eventType: 'AwsServiceEvent', userIdentity: { type: 'AWSService', arn: 'kms.amazonaws.com', invokedBy: 'kms.amazonaws.com' } });
    expect(serviceLine).not.toHaveProperty('actor');
    expect(parseCallLine(formatCallLine(service, LINK))).toStrictEqual(service);

    const operator: AuditEvent = {
      eventTime: full.eventTime,
      eventName: 'PutKeyPolicy',
      requestId: 'req-o',
      principalArn: 'arn:aws:iam::111122223333:root',
      resources: [KEY_ARN],
      actor: { type: 'Operator', invokedBy: 'hsmkms-cli', userName: 'alice@host' },
    };
    expect(JSON.parse(formatCallLine(operator, LINK))).toMatchObject({
      eventType: 'AwsApiCall',
      userIdentity: { type: 'Operator', arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333', invokedBy: 'hsmkms-cli', userName: 'alice@host' },
    });
    expect(parseCallLine(formatCallLine(operator, LINK))).toStrictEqual(operator);
  });

  it('keeps each record on one line whatever the fields contain, and hashes its bytes', () => {
    const line = formatCallLine({ ...full, userAgent: 'evil\nagent\r\u2028', errorMessage: 'two\nlines' }, LINK);
    expect(line.split('\n')).toHaveLength(1);
    expect(parseCallLine(line).userAgent).toBe('evil\nagent\r\u2028');
    expect(lineHash(line)).toBe(lineHash(Buffer.from(line, 'utf8')));
    expect(lineHash(line)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('bounds what a caller controls: user agent, error message, parameters', () => {
    const line = formatCallLine({ ...full, userAgent: 'u'.repeat(100_000), errorMessage: 'm'.repeat(100_000), requestParameters: { Policy: 'p'.repeat(1_000_000) } }, LINK);
    expect(line.length).toBeLessThan(40_000);
    expect(parseCallLine(line).userAgent).toMatch(/^u{1024}…\[truncated: 100000 characters\]$/);
  });

  it("keeps the dispatcher's parameters as auditParameters cut them, and still cleans any other object", () => {
    const policy = 'p'.repeat(5000);
    const kept = parseCallLine(formatCallLine({ ...full, requestParameters: auditParameters('PutKeyPolicy', { KeyId: 'k', Policy: policy }) }, LINK));
    expect(kept.requestParameters).toEqual({ KeyId: 'k', Policy: policy });
    const other = parseCallLine(formatCallLine({ ...full, requestParameters: { Policy: policy, SecretAccessKey: 's', Tags: [{ TagValue: 'v'.repeat(2000) }] } }, LINK));
    expect(other.requestParameters).toEqual({ Policy: `${'p'.repeat(1024)}…[truncated: 5000 characters]`, Tags: [{ TagValue: `${'v'.repeat(1024)}…[truncated: 2000 characters]` }] });
  });

  it('writes a digest whose signature covers every byte before it', () => {
    const parsed = parseLine(digestLine);
    expect(parsed.kind).toBe('digest');
    if (parsed.kind !== 'digest') return;
    expect(parsed.link).toEqual({ nodeId: 'host-w0', sequence: 9, previousHash: 'cd'.repeat(32) });
    expect(parsed.digest).toMatchObject({ digestStartSequence: 1, digestEndSequence: 8, signatureAlgorithm: 'ECDSA_SHA_384' });
    expect(parsed.signedText).toBe(digestSignedText(digestFields));
    expect(digestLine.startsWith(parsed.signedText.slice(0, -1))).toBe(true);
    expect(parsed.signature.toString()).toBe('a DER signature, for the format only');
  });

  it('rejects malformed lines with AuditRecordError', () => {
    const good = JSON.parse(formatCallLine(full, LINK)) as Record<string, unknown>;
    const digest = JSON.parse(digestLine) as Record<string, unknown>;
    const variants: [string, string][] = [
      ['not JSON', '{"eventVersion":'],
      ['empty', ''],
      ['an array', '[]'],
      ['a string', '"x"'],
      ['no version', JSON.stringify({ ...good, eventVersion: undefined })],
      ['version 1 (no chain)', JSON.stringify({ ...good, eventVersion: '1.0' })],
      ['a future major version', JSON.stringify({ ...good, eventVersion: '3.0' })],
      ['a numeric version', JSON.stringify({ ...good, eventVersion: 2 })],
      ['an unknown event type', JSON.stringify({ ...good, eventType: 'AwsConsoleSignIn' })],
      ['no node', JSON.stringify({ ...good, nodeId: undefined })],
      ['a node id with a slash', JSON.stringify({ ...good, nodeId: '../etc' })],
      ['sequence 0', JSON.stringify({ ...good, sequence: 0 })],
      ['a fractional sequence', JSON.stringify({ ...good, sequence: 1.5 })],
      ['a string sequence', JSON.stringify({ ...good, sequence: '7' })],
      ['a short previous hash', JSON.stringify({ ...good, previousHash: 'ab' })],
      ['an upper-case previous hash', JSON.stringify({ ...good, previousHash: 'AB'.repeat(32) })],
      ['a bad time', JSON.stringify({ ...good, eventTime: 'yesterday' })],
      ['no event name', JSON.stringify({ ...good, eventName: undefined })],
      ['no request id', JSON.stringify({ ...good, requestID: 7 })],
      ['no identity', JSON.stringify({ ...good, userIdentity: undefined })],
      ['an identity without ARN', JSON.stringify({ ...good, userIdentity: { type: 'Root' } })],
      ['resources not a list', JSON.stringify({ ...good, resources: KEY_ARN })],
      ['a resource without ARN', JSON.stringify({ ...good, resources: [{ type: 'AWS::KMS::Key' }] })],
      ['parameters not an object', JSON.stringify({ ...good, requestParameters: ['x'] })],
      ['a numeric error code', JSON.stringify({ ...good, errorCode: 400 })],
      ['a digest of another algorithm', JSON.stringify({ ...digest, signatureAlgorithm: 'RSASSA_PSS_SHA_256' })],
      ['a digest without signature', JSON.stringify({ ...digest, signature: undefined })],
      ['a digest whose signature is not last', JSON.stringify({ signature: digest.signature, ...digest })],
      ['a digest with an escaped signature', digestLine.replace(/"signature":"(.)/, '"signature":"\\u00$1'.replace('$1', '41'))],
      ['a digest whose range ends after it', JSON.stringify({ ...digest, digestEndSequence: 9 })],
      ['a digest whose range is reversed', JSON.stringify({ ...digest, digestStartSequence: 8, digestEndSequence: 2 })],
      ['a digest with a bad fingerprint', JSON.stringify({ ...digest, publicKeyFingerprint: 'xyz' })],
      ['a digest with a bad range time', JSON.stringify({ ...digest, digestEndTime: 'soon' })],
    ];
    for (const [what, line] of variants) {
      expect(() => parseLine(line), what).toThrow(AuditRecordError);
    }
  });

  it('reads later minor versions', () => {
    const line = JSON.stringify({ ...(JSON.parse(formatCallLine(full, LINK)) as object), eventVersion: '2.7', addedLater: true });
    expect(parseCallLine(line).eventName).toBe('Encrypt');
  });
});
