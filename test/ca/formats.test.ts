/** The CA's small formats: serial numbers, base URLs, PEM, and reading OCSP requests (malformed input included). */
import 'reflect-metadata';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CertID, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { randomBytes } from 'node:crypto';
import { PemConverter } from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { pem } from '../../src/ca/der.js';
import { CaError } from '../../src/ca/errors.js';
import { MAX_OCSP_QUERIES, MalformedOcspRequest, parseOcspRequest, unsignedOcspResponse } from '../../src/ca/ocsp-format.js';
import { canonicalSerial, newSerial, parseSerial } from '../../src/ca/serial.js';
import { caUrls, normalizeBaseUrl, requireCaName } from '../../src/ca/urls.js';

describe('serials', () => {
  it('are 16 octets, positive, first octet 0x40–0x7f, and different every time', () => {
    const serials = Array.from({ length: 200 }, newSerial);
    for (const s of serials) expect(s).toMatch(/^[4-7][0-9a-f]{31}$/);
    expect(new Set(serials).size).toBe(serials.length);
  });

  it('are read in the forms people copy them in', () => {
    expect(parseSerial('4F:3A:00:01')).toBe('4f3a0001');
    expect(parseSerial(' 0x4f3a0001 ')).toBe('4f3a0001');
    expect(parseSerial('00ff')).toBe('ff');
    expect(parseSerial('abc')).toBe('0abc');
    expect(canonicalSerial('000000')).toBe('00');
    for (const bad of ['', 'xyz', '4f-3a', '1'.repeat(41), `${'1:'.repeat(60)}1`]) expect(() => parseSerial(bad), bad).toThrow(CaError);
  });
});

describe('PEM', () => {
  it("is what @peculiar/x509's PemConverter writes, for every length around a line's 48 octets", () => {
    for (const length of [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 720, 1500]) {
      const der = randomBytes(length + 3).subarray(3);
      expect(pem(der, 'CERTIFICATE'), `${length} octets`).toBe(PemConverter.encode(der, 'CERTIFICATE'));
    }
  });
});

describe('names and URLs', () => {
  it('accepts URL-safe CA names only', () => {
    expect(requireCaName('prod-ca.v2_1')).toBe('prod-ca.v2_1');
    for (const bad of ['', '-x', '.x', 'a/b', 'a b', 'é', 'x'.repeat(65)]) expect(() => requireCaName(bad), bad).toThrow(CaError);
  });

  it('takes plain-http base URLs without query or fragment, dropping trailing slashes', () => {
    expect(normalizeBaseUrl('http://ca.example.internal:7600/')).toBe('http://ca.example.internal:7600');
    expect(normalizeBaseUrl('http://ca.example.internal/pki//')).toBe('http://ca.example.internal/pki');
    expect(caUrls('http://h', 'x').ocsp).toBe('http://h/ca/x/ocsp');
    for (const bad of ['https://ca.example', 'ftp://x', 'not a url', 'http://h/?q=1', 'http://h/#f', 'http://u:p@h/', `http://h/${'a'.repeat(600)}`])
      expect(() => normalizeBaseUrl(bad), bad).toThrow(CaError);
  });
});

describe('OCSP requests', () => {
  const certId = (hashOid = '1.3.14.3.2.26') =>
    new CertID({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: hashOid, parameters: null }),
      issuerNameHash: new OctetString(new Uint8Array(20).fill(1)),
      issuerKeyHash: new OctetString(new Uint8Array(20).fill(2)),
      serialNumber: new Uint8Array([0x4f, 0x01]).buffer,
    });
  const encode = (requests: Request[], extensions?: Extension[]) =>
    new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: requests, ...(extensions ? { requestExtensions: extensions } : {}) }) })));

  it('reads CertIDs and the nonce', () => {
    const nonce = new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(new Uint8Array([4, 2, 0xaa, 0xbb])) });
    const parsed = parseOcspRequest(encode([new Request({ reqCert: certId() }), new Request({ reqCert: certId('2.16.840.1.101.3.4.2.1') })], [nonce]));
    expect(parsed.queries).toHaveLength(2);
    expect(parsed.queries[0]).toMatchObject({ hash: 'SHA-1', serialHex: '4f01' });
    expect(parsed.queries[1]!.hash).toBe('SHA-256');
    expect(Buffer.from(parsed.nonce!.extnValue.buffer).toString('hex')).toBe('0402aabb');
  });

  it('marks unknown hash algorithms instead of failing', () => {
    expect(parseOcspRequest(encode([new Request({ reqCert: certId('1.2.3.4') })])).queries[0]!.hash).toBeUndefined();
  });

  it('refuses malformed, empty, oversize and overlong requests', () => {
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([0x04, 0x00]),
      new Uint8Array([0x30, 0x00]),
      new Uint8Array([0x30, 0x80]),
      new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array(5000).fill(0x30),
      encode([]),
      encode(Array.from({ length: MAX_OCSP_QUERIES + 1 }, () => new Request({ reqCert: certId() }))),
      encode([new Request({ reqCert: certId() })], [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(new Uint8Array(200)) })]),
    ];
    for (const [i, der] of cases.entries()) expect(() => parseOcspRequest(der), String(i)).toThrow(MalformedOcspRequest);
  });

  it('writes unsigned error statuses that parse back', () => {
    const response = AsnConvert.parse(unsignedOcspResponse(OCSPResponseStatus.malformedRequest), OCSPResponse);
    expect(response.responseStatus).toBe(OCSPResponseStatus.malformedRequest);
    expect(response.responseBytes).toBeUndefined();
  });
});
