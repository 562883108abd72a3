/**
 * Reading a certificate signing request from a caller: PEM or DER, bounded in size, parsed by
 * @peculiar/x509, its self-signature verified, its key type and requested names extracted.
 * Every refusal is a {@link CaError} with one line a person can act on.
 */
import 'reflect-metadata';
import { constants, createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { children, readElement, subjectPublicKeyBits } from './der.js';
import { CaError } from './errors.js';

/** Largest CSR accepted, PEM or DER: an RSA-8192 request with 100 long names fits easily. */
export const MAX_CSR_BYTES = 32 * 1024;
/** Most subjectAltName entries accepted in one request. */
export const MAX_SUBJECT_ALT_NAMES = 100;

export type CsrKeyType = 'ec' | 'rsa';

export interface CheckedCsr {
  /** The subject as requested, parsed and DER, and for people. */
  subject: x509.Name;
  subjectDer: Uint8Array;
  subjectText: string;
  /** SubjectPublicKeyInfo, DER. */
  publicKey: x509.PublicKey;
  /** The key's identifier (hex): SHA-1 over its subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
  keyIdentifier: string;
  keyType: CsrKeyType;
  /** Requested subjectAltName entries, in order. */
  names: x509.GeneralName[];
  /** The request asks for basicConstraints cA=TRUE. */
  requestsCa: boolean;
}

const PEM_CSR = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\r\n\t ]*)-----END (?:NEW )?CERTIFICATE REQUEST-----/;

function malformed(message: string, cause?: unknown): CaError {
  return new CaError('MalformedCSRException', message, cause === undefined ? undefined : { cause });
}

/** The DER bytes of a PEM or DER request. */
function csrDer(input: string | Uint8Array): Uint8Array {
  if (input.length > MAX_CSR_BYTES) throw malformed(`The CSR is ${input.length} bytes; the limit is ${MAX_CSR_BYTES}.`);
  if (input.length === 0) throw malformed('The CSR is empty.');
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  // DER starts with a SEQUENCE tag; anything else must be PEM text.
  if (bytes[0] === 0x30) return bytes;
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  const match = PEM_CSR.exec(text);
  if (!match) throw malformed('The CSR is neither DER nor PEM: expected a "-----BEGIN CERTIFICATE REQUEST-----" block.');
  const der = Buffer.from(match[1]!.replace(/\s/g, ''), 'base64');
  if (der.length === 0 || der[0] !== 0x30) throw malformed('The PEM block does not hold a DER certificate request.');
  return der;
}

/** Parses and verifies a CSR; throws CaError MalformedCSRException for anything wrong with it. */
export async function readCsr(input: string | Uint8Array): Promise<CheckedCsr> {
  const der = csrDer(input);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    // Touch the lazily parsed parts now, so a broken request fails here with our message.
    void csr.subject;
    void csr.extensions;
  } catch (error) {
    throw malformed('The CSR is not a well-formed PKCS#10 certificate request.', error);
  }

  let spki: Uint8Array;
  let key: KeyObject;
  try {
    spki = new Uint8Array(csr.publicKey.rawData);
    key = createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (error) {
    throw malformed("The CSR's public key cannot be read.", error);
  }
  if (!verifies(der, csr, key)) throw malformed("The CSR's signature does not verify: the request was altered, or not signed by the key it carries.");

  const { keyType } = checkKey(csr.publicKey);
  let names: x509.GeneralName[] = [];
  let requestsCa = false;
  try {
    for (const extension of csr.extensions) {
      if (extension instanceof x509.SubjectAlternativeNameExtension) names = [...extension.names.items];
      else if (extension instanceof x509.BasicConstraintsExtension) requestsCa = extension.ca;
    }
  } catch (error) {
    throw malformed('The CSR requests extensions that cannot be read.', error);
  }
  if (names.length > MAX_SUBJECT_ALT_NAMES)
    throw malformed(`The CSR asks for ${names.length} subjectAltNames; the limit is ${MAX_SUBJECT_ALT_NAMES}.`);
  const subjectDer = new Uint8Array(csr.subjectName.toArrayBuffer());
  const subject = new x509.Name(subjectDer);
  const keyIdentifier = createHash('sha1').update(subjectPublicKeyBits(spki)).digest('hex');
  return { subject, subjectDer, subjectText: csr.subject, publicKey: csr.publicKey, keyIdentifier, keyType, names, requestsCa };
}

/** WebCrypto hash names as node:crypto spells them. */
const HASHES: Record<string, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Checks the request's self-signature with node:crypto on the DER as it came (the
 * certificationRequestInfo bytes, the signature bytes; ECDSA signatures stay DER), so no
 * WebCrypto key import or signature re-encoding happens per request.
 */
function verifies(der: Uint8Array, csr: x509.Pkcs10CertificateRequest, key: KeyObject): boolean {
  const algorithm = csr.signatureAlgorithm as { name?: string; hash?: string | { name?: string }; saltLength?: number } | undefined;
  const hashName = typeof algorithm?.hash === 'string' ? algorithm.hash : algorithm?.hash?.name;
  const hash = hashName === undefined ? undefined : HASHES[hashName.toUpperCase()];
  const keyType = key.asymmetricKeyType;
  let options: Parameters<typeof verifySignature>[2] | undefined;
  if (algorithm?.name === 'ECDSA' && keyType === 'ec') options = { key, dsaEncoding: 'der' };
  else if (algorithm?.name === 'RSASSA-PKCS1-v1_5' && keyType === 'rsa') options = { key, padding: constants.RSA_PKCS1_PADDING };
  else if (algorithm?.name === 'RSA-PSS' && (keyType === 'rsa' || keyType === 'rsa-pss') && typeof algorithm.saltLength === 'number')
    options = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength };
  if (!hash || !options)
    throw malformed(`The CSR's signature algorithm (${algorithm?.name ?? 'unknown'}) is not supported: sign it with ECDSA or RSA PKCS#1 v1.5/PSS.`);
  try {
    // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
    const [info, , signature] = children(der, readElement(der, 0));
    if (!info || signature?.tag !== 0x03 || signature.end - signature.start < 2) return false;
    return verifySignature(hash, der.subarray(info.offset, info.end), options, der.subarray(signature.start + 1, signature.end));
  } catch {
    // A signature that is not even well-formed (ECDSA: not DER) verifies nothing.
    return false;
  }
}

/**
 * Keys a certificate may carry: ECDSA P-256 or P-384, RSA 2048–8192 bits in whole bytes
 * (what the major root programs accept). Read from the parsed SubjectPublicKeyInfo, which the
 * signature check has already imported.
 */
function checkKey(publicKey: x509.PublicKey): { keyType: CsrKeyType } {
  let algorithm: { name?: string; namedCurve?: string; modulusLength?: number };
  try {
    algorithm = publicKey.algorithm as typeof algorithm;
  } catch (error) {
    throw malformed("The CSR's public key cannot be read.", error);
  }
  if (algorithm.name === 'ECDSA' || algorithm.name === 'ECDH') {
    const curve = algorithm.namedCurve;
    if (curve !== 'P-256' && curve !== 'P-384') throw malformed(`The CSR's EC key is on curve ${curve ?? 'unknown'}; use P-256 or P-384.`);
    return { keyType: 'ec' };
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' || algorithm.name === 'RSA-PSS' || algorithm.name === 'RSA-OAEP') {
    const bits = algorithm.modulusLength ?? 0;
    if (bits < 2048 || bits > 8192 || bits % 8 !== 0) throw malformed(`The CSR's RSA key has ${bits} bits; use 2048 to 8192 bits in whole bytes.`);
    return { keyType: 'rsa' };
  }
  throw malformed(`The CSR's key type (${algorithm.name ?? 'unknown'}) is not supported; use ECDSA P-256/P-384 or RSA.`);
}
