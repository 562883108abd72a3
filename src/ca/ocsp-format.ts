/**
 * The OCSP wire format (RFC 6960): reading an OCSPRequest from a caller, and writing
 * OCSPResponses — unsigned error statuses, and the BasicOCSPResponse around a signature made
 * elsewhere (in KMS). Schemas from @peculiar/asn1-ocsp; the limits here bound what a caller
 * can make the responder parse or sign.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { Certificate, CRLReason, Extension } from '@peculiar/asn1-x509';
import { signatureAlgorithmIdentifier } from './key-specs.js';

/** Largest OCSP request read (a request for a handful of certificates with a nonce is ~100–300 bytes). */
export const MAX_OCSP_REQUEST_BYTES = 4096;
/** Most certificates asked about in one request. */
export const MAX_OCSP_QUERIES = 16;
/** Largest nonce extension value echoed (RFC 8954 limits the nonce itself to 32 octets). */
const MAX_NONCE_EXTENSION_BYTES = 64;

/** Hash algorithms a CertID may use, by OID, as Node/WebCrypto names them. */
export const CERT_ID_HASHES: Record<string, 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512'> = {
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

/** Why a request could not be read. */
export class MalformedOcspRequest extends Error {}

export interface OcspQuery {
  certId: CertID;
  /** Undefined for a hash algorithm not in {@link CERT_ID_HASHES}. */
  hash: (typeof CERT_ID_HASHES)[string] | undefined;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Hex of the integer's content octets (see serial.ts for the canonical form). */
  serialHex: string;
}

export interface ParsedOcspRequest {
  queries: OcspQuery[];
  /** The nonce extension as sent, to be echoed. */
  nonce?: Extension | undefined;
}

/** Parses a DER OCSPRequest; throws {@link MalformedOcspRequest} for anything unusable. */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  if (der.length === 0 || der.length > MAX_OCSP_REQUEST_BYTES) throw new MalformedOcspRequest(`request of ${der.length} bytes`);
  if (der[0] !== 0x30) throw new MalformedOcspRequest('not a DER SEQUENCE');
  let request: OCSPRequest;
  try {
    request = AsnConvert.parse(der, OCSPRequest);
  } catch (error) {
    throw new MalformedOcspRequest(`not an OCSPRequest: ${(error as Error).message}`);
  }
  const list = request.tbsRequest?.requestList ?? [];
  if (list.length === 0 || list.length > MAX_OCSP_QUERIES) throw new MalformedOcspRequest(`${list.length} certificates asked about`);
  const queries = list.map(({ reqCert }) => ({
    certId: reqCert,
    hash: CERT_ID_HASHES[reqCert.hashAlgorithm.algorithm],
    issuerNameHash: Buffer.from(reqCert.issuerNameHash.buffer),
    issuerKeyHash: Buffer.from(reqCert.issuerKeyHash.buffer),
    serialHex: Buffer.from(reqCert.serialNumber).toString('hex'),
  }));
  const nonce = request.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  if (nonce && (nonce.extnValue.byteLength === 0 || nonce.extnValue.byteLength > MAX_NONCE_EXTENSION_BYTES))
    throw new MalformedOcspRequest('nonce of unacceptable length');
  return { queries, nonce: nonce ? new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: nonce.extnValue }) : undefined };
}

/** An OCSPResponse that is only a status: malformedRequest, internalError, tryLater, unauthorized. */
export function unsignedOcspResponse(status: Exclude<OCSPResponseStatus, OCSPResponseStatus.successful>): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: status })));
}

export type OcspCertStatus = { status: 'good' } | { status: 'unknown' } | { status: 'revoked'; revokedAt: Date; reasonCode?: number | undefined };

export interface OcspAnswer {
  certId: CertID;
  status: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date;
}

function certStatus(status: OcspCertStatus): CertStatus {
  switch (status.status) {
    case 'good':
      return new CertStatus({ good: null });
    case 'unknown':
      return new CertStatus({ unknown: null });
    case 'revoked':
      return new CertStatus({
        revoked: new RevokedInfo({
          revocationTime: status.revokedAt,
          ...(status.reasonCode === undefined ? {} : { revocationReason: new CRLReason(status.reasonCode) }),
        }),
      });
  }
}

/** ResponseData and its DER, which is what gets signed. */
export interface EncodedResponseData {
  data: ResponseData;
  der: Uint8Array;
}

/** The ResponseData to be signed. `responderKeyHash` is SHA-1 of the responder's public key bits. */
export function encodeResponseData(responderKeyHash: Uint8Array, producedAt: Date, answers: OcspAnswer[], nonce: Extension | undefined): EncodedResponseData {
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(responderKeyHash) }),
    producedAt,
    responses: answers.map(
      (a) => new SingleResponse({ certID: a.certId, certStatus: certStatus(a.status), thisUpdate: a.thisUpdate, nextUpdate: a.nextUpdate }),
    ),
    ...(nonce ? { responseExtensions: [nonce] } : {}),
  });
  return { data, der: new Uint8Array(AsnConvert.serialize(data)) };
}

/** The successful OCSPResponse around signed ResponseData; `responderCertificate` (DER) lets clients verify the delegation. */
export function encodeBasicOcspResponse(
  responseData: EncodedResponseData,
  signature: { oid: string; rsa: boolean; value: Uint8Array },
  responderCertificate: Uint8Array,
): Uint8Array {
  const basic = new BasicOCSPResponse({
    // The same object that was serialized for signing: DER serialization is deterministic.
    tbsResponseData: responseData.data,
    signatureAlgorithm: signatureAlgorithmIdentifier({ signatureOid: signature.oid, rsa: signature.rsa }),
    signature: new Uint8Array(signature.value).buffer,
    certs: [AsnConvert.parse(responderCertificate, Certificate)],
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  });
  return new Uint8Array(AsnConvert.serialize(response));
}
