/** The one pagination marker format: round trips for every listing and malformed input. */
import { describe, expect, it } from 'vitest';
import { readListMarker, writeListMarker } from '../../src/core/list-marker.js';
import { thrownKmsError } from '../support/errors.js';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('list markers', () => {
  it('round-trip the position of each listing', () => {
    const keys = { creationDate: new Date('2026-01-02T03:04:05.678Z'), keyId: '1234abcd-12ab-34cd-56ef-1234567890ab' };
    expect(readListMarker('keys', writeListMarker('keys', keys))).toEqual(keys);
    const aliases = { aliasName: `alias/${'x'.repeat(250)}` };
    const aliasMarker = writeListMarker('aliases', aliases);
    expect(aliasMarker.length).toBeLessThanOrEqual(1024);
    expect(readListMarker('aliases', aliasMarker)).toEqual(aliases);
    expect(readListMarker('offset', writeListMarker('offset', 100))).toBe(100);
    const principals = { arn: `arn:aws:iam::111122223333:user/${'u'.repeat(64)}` };
    expect(readListMarker('principals', writeListMarker('principals', principals))).toEqual(principals);
    const grants = { scope: 'a'.repeat(22), creationDate: new Date(1_800_000_000_123), grantId: 'f'.repeat(64) };
    expect(readListMarker('grants', writeListMarker('grants', grants))).toEqual(grants);
    const requests = { createdAt: new Date(1_800_000_000_456), requestId: `ar-${'0'.repeat(32)}` };
    expect(readListMarker('approval-requests', writeListMarker('approval-requests', requests))).toEqual(requests);
    const events = { time: new Date(1_800_000_000_789), nodeId: 'host-w0', sequence: 17 };
    expect(readListMarker('audit-events', writeListMarker('audit-events', events))).toEqual(events);
    const certificates = { issuedAt: new Date(1_800_000_000_999), serial: '4f'.repeat(16) };
    expect(readListMarker('certificates', writeListMarker('certificates', certificates))).toEqual(certificates);
    const keyStores = { creationDate: new Date(1_800_000_001_000), customKeyStoreId: 'cks-1234567890abcdef0' };
    expect(readListMarker('key-stores', writeListMarker('key-stores', keyStores))).toEqual(keyStores);
    // Opaque: base64url, nothing a client could read as a plain number or name.
    expect(writeListMarker('offset', 2)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('refuses markers of another listing, another version and malformed ones with InvalidMarkerException', () => {
    const keysMarker = writeListMarker('keys', { creationDate: new Date(1), keyId: 'k' });
    const bad: [string, string][] = [
      ['keys', 'not a marker'],
      ['keys', ''],
      ['keys', 'A'.repeat(1025)],
      ['keys', b64('{}')],
      ['keys', b64('[1,2]')],
      ['keys', b64('null')],
      ['keys', b64('{"v":1,"l":"keys","c":"x","k":1}')],
      ['keys', b64('{"v":99,"l":"keys","c":1,"k":"a"}')],
      ['keys', keysMarker.slice(0, -3)],
      ['keys', `${keysMarker}=`],
      ['aliases', keysMarker],
      ['offset', keysMarker],
      ['offset', b64('{"v":1,"l":"offset","o":-1}')],
      ['offset', b64('{"v":1,"l":"offset","o":1.5}')],
      ['offset', b64('2')], // the old offset format
      ['keys', writeListMarker('aliases', { aliasName: 'alias/a' })],
      ['principals', writeListMarker('aliases', { aliasName: 'alias/a' })],
      ['principals', b64('{"v":1,"l":"principals","a":5}')],
      ['grants', keysMarker],
      ['grants', b64('{"v":1,"l":"grants","c":1,"g":"a"}')], // no scope
      ['grants', b64('{"v":1,"l":"grants","s":"x","c":"1","g":"a"}')],
      ['approval-requests', writeListMarker('grants', { scope: 's', creationDate: new Date(1), grantId: 'g' })],
      ['approval-requests', b64('{"v":1,"l":"approval-requests","c":1.5,"r":"ar-1"}')],
      ['audit-events', writeListMarker('approval-requests', { createdAt: new Date(1), requestId: 'ar-1' })],
      ['audit-events', b64('{"v":1,"l":"audit-events","t":1,"n":"host-w0","s":"17"}')],
      ['certificates', writeListMarker('audit-events', { time: new Date(1), nodeId: 'n', sequence: 1 })],
      ['key-stores', keysMarker],
      ['key-stores', b64('{"v":1,"l":"key-stores","c":1,"k":7}')],
      ['certificates', b64('{"v":1,"l":"certificates","t":1,"n":"1\'; drop table"}')],
    ];
    for (const [list, marker] of bad) {
      const error = thrownKmsError(() => readListMarker(list as 'keys', marker));
      expect(error.type, `${list} ${marker.slice(0, 40)}`).toBe('InvalidMarkerException');
      expect(error.message).toBe('The request contains a Marker that is not valid. Use the NextMarker value from the previous response.');
    }
  });
});
