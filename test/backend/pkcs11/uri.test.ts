import { describe, expect, it } from 'vitest';
import { hsmConfigFromUri, parsePkcs11Uri, pinSourceFromUri } from '../../../src/backend/pkcs11/uri.js';
import { ConfigError } from '../../../src/config/hsm.js';

describe('RFC 7512 pkcs11: URIs', () => {
  it('parses path and query attributes with percent-encoding', () => {
    const u = parsePkcs11Uri(
      'pkcs11:token=My%20Token;serial=0123abcd;object=signing%2Dkey;id=%01%02%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/hsm.pin',
    );
    expect(u).toMatchObject({
      token: 'My Token',
      serial: '0123abcd',
      object: 'signing-key',
      type: 'private',
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
      pinSource: 'file:/etc/hsm.pin',
    });
    expect(u.id).toEqual(Buffer.from([1, 2, 255]));
  });

  it('accepts UTF-8 and keeps unknown attributes', () => {
    const u = parsePkcs11Uri('pkcs11:token=Schl%C3%BCssel;manufacturer=SoftHSM%20project;x-vendor=1');
    expect(u.token).toBe('Schlüssel');
    expect(u.manufacturer).toBe('SoftHSM project');
    expect(u.other).toEqual({ 'x-vendor': '1' });
  });

  it('rejects what is not a usable URI', () => {
    for (const bad of [
      'token=x',
      'pkcs11:token',
      'pkcs11:token=a;token=b',
      'pkcs11:id=%zz',
      'pkcs11:type=banana',
      'pkcs11:token=a?pin-value=1234',
      'pkcs11:slot-id=abc',
    ])
      expect(() => parsePkcs11Uri(bad), bad).toThrow(ConfigError);
  });

  it('never echoes a pin-value in the error', () => {
    try {
      parsePkcs11Uri('pkcs11:token=a?pin-value=s3cr3t');
    } catch (e) {
      expect((e as Error).message).not.toContain('s3cr3t');
    }
  });

  it('maps pin sources', () => {
    expect(pinSourceFromUri('file:/etc/p')).toEqual({ file: '/etc/p' });
    expect(pinSourceFromUri('file:///etc/p')).toEqual({ file: '/etc/p' });
    expect(pinSourceFromUri('/etc/p')).toEqual({ file: '/etc/p' });
    expect(pinSourceFromUri('env:HSM_PIN')).toEqual({ env: 'HSM_PIN' });
    expect(() => pinSourceFromUri('relative/p')).toThrow(ConfigError);
  });

  it('builds an HSM configuration', () => {
    expect(hsmConfigFromUri('pkcs11:token=kms;serial=42?module-path=/opt/cloudhsm/lib/libcloudhsm_pkcs11.so&pin-source=env:PIN')).toEqual({
      modulePath: '/opt/cloudhsm/lib/libcloudhsm_pkcs11.so',
      token: { label: 'kms', serial: '42' },
      pin: { env: 'PIN' },
      profile: 'cloudhsm',
    });
    expect(hsmConfigFromUri('pkcs11:token=t?module-path=/usr/lib/softhsm/libsofthsm2.so', { pin: { file: '/p' } }).profile).toBe('softhsm2');
    expect(() => hsmConfigFromUri('pkcs11:token=t')).toThrow(/module-path/);
    expect(() => hsmConfigFromUri('pkcs11:object=x?module-path=/m.so')).toThrow(/token=/);
    expect(() => hsmConfigFromUri('pkcs11:token=t?module-path=/m.so')).toThrow(/PIN/);
  });
});
