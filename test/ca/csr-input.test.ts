/** Hostile CSR bytes straight into the reader and the profile checks (src/ca/csr.ts, profiles.ts): each a clear CaError, never a certificate the request did not validly ask for. */
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readCsr } from '../../src/ca/csr.js';
import { element } from '../../src/ca/der.js';
import { CaError } from '../../src/ca/errors.js';
import { applyProfile } from '../../src/ca/profiles.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SPKI = publicKey.export({ format: 'der', type: 'spki' });
const ECDSA_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
const OID = (hex: string) => Buffer.from(`06${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`, 'hex');
const EXTENSION_REQUEST = OID('2a864886f70d01090e');
const SAN = OID('551d11');
const BASIC_CONSTRAINTS = OID('551d13');
const CN = OID('550403');
const b = (hex: string) => Buffer.from(hex, 'hex');

const subject = (cn: string) => element(0x30, element(0x31, element(0x30, CN, element(0x0c, Buffer.from(cn)))));
const extension = (oid: Buffer, value: Buffer) => element(0x30, oid, element(0x04, value));
const sanOf = (...names: Buffer[]) => element(0x30, ...names);
const dns = (name: string | Buffer) => element(0x82, Buffer.from(name));
const extensionRequest = (...extensions: Buffer[]) => element(0x30, EXTENSION_REQUEST, element(0x31, element(0x30, ...extensions)));

/** A request signed over `info` exactly as given. */
function signed(info: Buffer): Buffer {
  return element(0x30, info, ECDSA_SHA256, element(0x03, b('00'), sign('sha256', info, privateKey)));
}
function request(options: { version?: Buffer; subject?: Buffer; attributes?: Buffer[] } = {}): Buffer {
  const attributes = options.attributes ?? [extensionRequest(extension(SAN, sanOf(dns('a.example'))))];
  return signed(element(0x30, options.version ?? b('020100'), options.subject ?? subject('a.example'), SPKI, element(0xa0, ...attributes)));
}

async function refusal(der: Buffer, profile: 'tls-server' | 'tls-client' | 'code-signing' = 'tls-server'): Promise<CaError> {
  try {
    applyProfile(profile, await readCsr(der));
  } catch (error) {
    return error as CaError;
  }
  throw new Error('accepted');
}

describe('CSR reader on hostile input', () => {
  it('accepts the well-formed baseline', async () => {
    const csr = await readCsr(request());
    expect(csr.names).toEqual([{ type: 'dns', value: 'a.example' }]);
    expect(() => applyProfile('tls-server', csr)).not.toThrow();
  });

  const raw = (tag: number, length: string, value: Buffer) => Buffer.concat([Buffer.from([tag]), b(length), value]);
  const cn = subject('a.example');
  const san = (...names: Buffer[]) => [extensionRequest(extension(SAN, sanOf(...names)))];

  it.each([
    ['a long-form length under 128 (the subject copied into the certificate)', request({ subject: Buffer.concat([b('3081'), cn.subarray(1)]) })],
    ['a length with a leading zero octet', request({ subject: Buffer.concat([b('308200'), cn.subarray(1)]) })],
    ['a non-minimal length inside the subject', request({ subject: element(0x30, element(0x31, element(0x30, CN, raw(0x0c, '8109', Buffer.from('a.example'))))) })],
    ['a non-minimal length inside the requested subjectAltName', request({ attributes: [extensionRequest(extension(SAN, element(0x30, raw(0x82, '8109', Buffer.from('a.example')))))] })],
    ['a version INTEGER with a redundant leading zero', request({ version: b('02020000') })],
    ['a BOOLEAN that is neither 00 nor FF', request({ attributes: [extensionRequest(element(0x30, SAN, b('010101'), element(0x04, sanOf(dns('a.example')))))] })],
    ['a constructed (BER) string in the subject', request({ subject: element(0x30, element(0x31, element(0x30, CN, element(0x2c, element(0x0c, Buffer.from('a.example')))))) })],
    ['bytes after the subjectAltName inside its extnValue', request({ attributes: [extensionRequest(extension(SAN, Buffer.concat([sanOf(dns('a.example')), b('0500')])))] })],
    ['a third element in the SubjectPublicKeyInfo (copied into the certificate)', signed(element(0x30, b('020100'), cn, element(0x30, SPKI.subarray(2), b('0500')), element(0xa0, ...san(dns('a.example')))))],
    ['an indefinite length', request({ subject: Buffer.concat([b('3080'), cn.subarray(2), b('0000')]) })],
    ['a subject nested 5,000 deep', request({ subject: element(0x30, element(0x31, element(0x30, CN, Array.from({ length: 5000 }).reduce<Buffer>((inner) => element(0x30, inner), element(0x0c, Buffer.from('x')))))) })],
  ])('refuses %s as malformed (DER is what the certificate carries)', async (_what, der) => {
    const error = await refusal(der);
    expect(error).toBeInstanceOf(CaError);
    expect(error.type).toBe('MalformedCSRException');
  });

  it.each([
    ['two extensionRequest attributes (cA=TRUE in the first, cA=FALSE in the second)', request({ attributes: [extensionRequest(extension(BASIC_CONSTRAINTS, b('30030101ff')), extension(SAN, sanOf(dns('a.example')))), extensionRequest(extension(BASIC_CONSTRAINTS, b('3000')))] })],
    ['two subjectAltName extensions in one request', request({ attributes: [extensionRequest(extension(SAN, sanOf(dns('evil.example'))), extension(SAN, sanOf(dns('a.example'))))] })],
    ['one extensionRequest attribute with two values', request({ attributes: [element(0x30, EXTENSION_REQUEST, element(0x31, element(0x30, extension(SAN, sanOf(dns('b.example')))), element(0x30, extension(SAN, sanOf(dns('a.example'))))))] })],
  ])('refuses %s: which one counts would be a guess', async (_what, der) => {
    const error = await refusal(der);
    expect(error).toBeInstanceOf(CaError);
    expect(error.type).toBe('MalformedCSRException');
    expect(error.message).toMatch(/more than (once|one)/);
  });

  it.each([
    ['an e-mail address with a NUL', element(0x81, Buffer.from('u@good.example\0.evil.example'))],
    ['an e-mail address with a byte outside IA5', element(0x81, Buffer.from('u@g\xffood.example', 'latin1'))],
    ['a URI with a trailing NUL (which URL parsers strip)', element(0x86, Buffer.from('https://good.example/\0'))],
    ['a URI with a tab inside the host (which URL parsers drop)', element(0x86, Buffer.from('https://go\tod.example/'))],
    ['a URI with a leading space', element(0x86, Buffer.from(' https://good.example/'))],
  ])('refuses a subjectAltName that is %s', async (_what, name) => {
    const error = await refusal(request({ subject: element(0x30), attributes: san(name) }), 'tls-client');
    expect(error).toBeInstanceOf(CaError);
    expect(error.type).toBe('InvalidArgsException');
    expect(error.message).toMatch(/not a valid/);
  });
});

describe('CSR reader fast paths', () => {
  // Subjects and subjectAltNames in the common forms are read from their DER frame rather than
  // by the ASN.1 schema; these must come out exactly as @peculiar/x509's own parse of the same
  // request reads them, and the leaf must carry the requested names byte for byte.
  const STRING_TAGS = [0x0c, 0x13, 0x16, 0x1e, 0x14] as const;
  const ATTRIBUTE_TYPES = ['550403', '55040a', '550406', '2a864886f70d010901', '0992268993f22c640119', '2b0601040182371402', '8837'];
  /** Deterministic bytes (a linear congruential generator), so a failure can be replayed. */
  let seed = 12345;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const text = (tag: number) => {
    const length = next(12);
    // Mostly printable ASCII; now and then a byte a UTF8String or BMPString would make more of.
    const bytes = Array.from({ length }, () => (next(8) === 0 ? next(256) : 0x20 + next(95)));
    if (tag === 0x1e && bytes.length % 2 === 1) bytes.push(0x41);
    return Buffer.from(bytes);
  };
  const randomSubject = () => {
    const rdns = Array.from({ length: next(4) }, () =>
      element(0x31, ...Array.from({ length: 1 + (next(5) === 0 ? 1 : 0) }, () => element(0x30, OID(ATTRIBUTE_TYPES[next(ATTRIBUTE_TYPES.length)]!), element(STRING_TAGS[next(STRING_TAGS.length)]!, text(0))))),
    );
    return element(0x30, ...rdns);
  };
  const randomNames = () =>
    Array.from({ length: 1 + next(3) }, () => {
      const tag = [0x81, 0x82, 0x86, 0x87][next(4)]!;
      return element(tag, tag === 0x87 ? Buffer.from(Array.from({ length: next(2) ? 4 : 16 }, () => next(256))) : text(tag));
    });

  it('reads subjects and subjectAltNames as @peculiar/x509 reads them', async () => {
    const { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } = await import('@peculiar/x509');
    for (let i = 0; i < 300; i++) {
      const names = randomNames();
      const der = request({ subject: randomSubject(), attributes: [extensionRequest(extension(SAN, sanOf(...names)))] });
      let parsed: InstanceType<typeof Pkcs10CertificateRequest>;
      try {
        parsed = new Pkcs10CertificateRequest(der);
      } catch {
        // Bytes the library itself cannot read (a BMPString of odd length, …): ours must refuse them too.
        await expect(readCsr(der)).rejects.toBeInstanceOf(CaError);
        continue;
      }
      const csr = await readCsr(der);
      expect(csr.subjectText).toBe(parsed.subject);
      expect(csr.subject.toJSON()).toEqual(parsed.subjectName.toJSON());
      expect(csr.subject.getField('CN')).toEqual(parsed.subjectName.getField('CN'));
      const san = new SubjectAlternativeNameExtension(parsed.getExtension('2.5.29.17')!.rawData);
      expect(csr.names).toEqual(san.names.items.map((n) => ({ type: n.type, value: n.value })));
      expect(Buffer.from(csr.subjectAltNameDer!)).toEqual(sanOf(...names));
    }
  });
});
