/**
 * Reading a certificate signing request from a caller: PEM or DER, bounded in size, its PKCS#10
 * frame (RFC 2986) split into its parts, each part that carries meaning read into the structures
 * of @peculiar/asn1-x509 (on @peculiar/asn1-schema, as @peculiar/x509 itself does) — the
 * subject, the key's and the signature's algorithms, the values of the requested extensions it
 * reads (subjectAltName, basicConstraints); the subject and subjectAltNames in the forms requests
 * carry are built from their checked DER frame, anything else is parsed by the schemas — its
 * self-signature verified (a P-256/P-384 key's by an {@link EcdsaVerifier} when one is given,
 * otherwise with node:crypto), its key type and requested names extracted. Every refusal is a
 * {@link CaError} with one line a person can act on.
 *
 * Why not one parse of the whole request with @peculiar/asn1-csr's schema: that builds a tree
 * of every element (the key and signature bits, and the requested extensions, which its schema
 * leaves opaque and so re-encodes to be parsed again) and was a quarter of an issuance's CPU.
 */
import 'reflect-metadata';
import { constants, createHash, createPublicKey, KeyObject, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { checkDer, children, readElement, subjectPublicKeyBits, type DerElement } from './der.js';
import { CaError } from './errors.js';
import type { EcdsaVerdict, EcdsaVerifier } from './ports.js';

/** Largest CSR accepted, PEM or DER: an RSA-8192 request with 100 long names fits easily. */
export const MAX_CSR_BYTES = 32 * 1024;
/** Most subjectAltName entries accepted in one request. */
export const MAX_SUBJECT_ALT_NAMES = 100;

export type CsrKeyType = 'ec' | 'rsa';

/** One requested subjectAltName, typed as @peculiar/x509 names them (`dns`, `ip`, `email`, `url`, …). */
export interface RequestedName {
  type: string;
  value: string;
}

export interface CheckedCsr {
  /** The subject as requested, parsed and DER, and for people. */
  subject: x509.Name;
  subjectDer: Uint8Array;
  subjectText: string;
  /** SubjectPublicKeyInfo, DER, as the request carries it. */
  publicKey: Uint8Array;
  /** The key's identifier (hex): SHA-1 over its subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
  keyIdentifier: string;
  keyType: CsrKeyType;
  /** Requested subjectAltName entries, in order. */
  names: RequestedName[];
  /**
   * The requested subjectAltName extension's value (GeneralNames, DER, checked to be DER all the
   * way down and read into {@link names}) as it came: what a leaf copies, as it copies the subject.
   */
  subjectAltNameDer?: Uint8Array | undefined;
  /** The request asks for basicConstraints cA=TRUE. */
  requestsCa: boolean;
}

/** PKCS#9 extensionRequest (RFC 2985 §5.4.2): the attribute that carries requested extensions. */
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

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

/** @peculiar/x509's OID ↔ WebCrypto algorithm tables (signature and key algorithms). */
const algorithms = new x509.AlgorithmProvider();

type WebAlgorithm = { name?: string; namedCurve?: string; hash?: string | { name?: string }; saltLength?: number };

/**
 * An AlgorithmIdentifier (DER) as a WebCrypto algorithm (an unknown one named by its OID);
 * throws for bytes that are not an AlgorithmIdentifier. The answer depends on those bytes alone
 * and nearly every request carries one of a handful, so answers are kept (a bounded table:
 * bytes nobody sends twice only refill it). Callers only read them.
 */
const webAlgorithms = new Map<string, WebAlgorithm>();
function webAlgorithm(der: Uint8Array): WebAlgorithm {
  const id = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
  let algorithm = webAlgorithms.get(id);
  if (!algorithm) {
    algorithm = algorithms.toWebAlgorithm(AsnConvert.parse(der, asn1X509.AlgorithmIdentifier)) as WebAlgorithm;
    if (webAlgorithms.size >= 64) webAlgorithms.clear();
    webAlgorithms.set(id, algorithm);
  }
  return algorithm;
}

/** An OBJECT IDENTIFIER's contents octets (what follows its tag and length), encoded once by the schema. */
function oidContents(oid: string): Buffer {
  const der = new Uint8Array(AsnConvert.serialize(new asn1X509.Attribute({ type: oid, values: [] })));
  const [type] = children(der, readElement(der, 0));
  return Buffer.from(der.subarray(type!.start, type!.end));
}
const EXTENSION_REQUEST_OID = oidContents(EXTENSION_REQUEST);
const SUBJECT_ALT_NAME_OID = oidContents(asn1X509.id_ce_subjectAltName);
const BASIC_CONSTRAINTS_OID = oidContents(asn1X509.id_ce_basicConstraints);

/**
 * The values (extnValue contents, DER) of the two requested extensions this CA reads, from an
 * Extensions value: SEQUENCE OF Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING }, each frame checked. The values themselves are parsed by the schema.
 */
function requestedExtensions(der: Uint8Array): { subjectAltName?: Uint8Array; basicConstraints?: Uint8Array } {
  const outer = readElement(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('Extensions: not one SEQUENCE');
  const found: { subjectAltName?: Uint8Array; basicConstraints?: Uint8Array } = {};
  const seen = new Set<string>();
  for (const extension of children(der, outer)) {
    const fields = extension.tag === 0x30 ? children(der, extension) : [];
    const [id, critical, value] = fields.length === 2 ? [fields[0], undefined, fields[1]] : fields;
    if (id?.tag !== 0x06 || value?.tag !== 0x04 || fields.length < 2 || fields.length > 3 || (critical && (critical.tag !== 0x01 || critical.end - critical.start !== 1)))
      throw new Error('Extension: not { extnID, critical, extnValue }');
    const oid = der.subarray(id.start, id.end);
    // RFC 5280 §4.2: an extension appears at most once; with two, which one counts would be a guess.
    const oidKey = Buffer.from(oid).toString('latin1');
    if (seen.has(oidKey)) throw malformed('The CSR requests the same extension more than once.');
    seen.add(oidKey);
    const extnValue = der.subarray(value.start, value.end);
    if (SUBJECT_ALT_NAME_OID.equals(oid)) found.subjectAltName = extnValue;
    else if (BASIC_CONSTRAINTS_OID.equals(oid)) found.basicConstraints = extnValue;
    else continue;
    // Exactly one DER element: the schema's parser would take BER, and ignore bytes after it.
    checkDer(extnValue);
  }
  return found;
}

const bytesOf = (der: Uint8Array, element: DerElement) => der.subarray(element.offset, element.end);

/** The parts of a request: each the DER of one element, as it came. */
interface CsrParts {
  /** CertificationRequestInfo, which the signature covers. */
  info: Uint8Array;
  version: number;
  subject: Uint8Array;
  spki: Uint8Array;
  /** The values of every extensionRequest attribute (each an Extensions, DER). */
  extensionRequests: Uint8Array[];
  signatureAlgorithm: Uint8Array;
  /** The signature BIT STRING's bits. */
  signature: Uint8Array;
}

/**
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute }
 * with each element's tag checked, nothing after the request, and every length within its parent.
 */
function csrParts(der: Uint8Array): CsrParts {
  const outer = readElement(der, 0);
  const fail = (what: string) => new Error(`CertificationRequest: ${what}`);
  // DER all the way down: the subject and key are copied into the certificate as they came.
  checkDer(der);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw fail('not one SEQUENCE');
  const top = children(der, outer);
  const [info, signatureAlgorithm, signature] = top;
  if (top.length !== 3 || info?.tag !== 0x30 || signatureAlgorithm?.tag !== 0x30 || signature?.tag !== 0x03 || signature.end - signature.start < 2 || der[signature.start] !== 0)
    throw fail('not { certificationRequestInfo, signatureAlgorithm, signature }');
  const fields = children(der, info);
  const [version, subject, spki, attributes] = fields;
  if (fields.length < 3 || fields.length > 4 || version?.tag !== 0x02 || subject?.tag !== 0x30 || spki?.tag !== 0x30 || (attributes && attributes.tag !== 0xa0))
    throw fail('not { version, subject, subjectPKInfo, [0] attributes }');
  const versionBytes = der.subarray(version.start, version.end);
  if (versionBytes.length < 1 || versionBytes.length > 6 || (versionBytes[0]! & 0x80) !== 0) throw fail('version out of range');
  const extensionRequests: Uint8Array[] = [];
  for (const attribute of attributes ? children(der, attributes) : []) {
    const [type, values, ...rest] = attribute.tag === 0x30 ? children(der, attribute) : [];
    if (type?.tag !== 0x06 || values?.tag !== 0x31 || rest.length > 0) throw fail('an attribute is not { type, values }');
    if (!EXTENSION_REQUEST_OID.equals(der.subarray(type.start, type.end))) continue;
    for (const value of children(der, values)) extensionRequests.push(bytesOf(der, value));
  }
  return {
    info: bytesOf(der, info),
    version: versionBytes.reduce((n, byte) => n * 256 + byte, 0),
    subject: bytesOf(der, subject),
    spki: bytesOf(der, spki),
    extensionRequests,
    signatureAlgorithm: bytesOf(der, signatureAlgorithm),
    signature: der.subarray(signature.start + 1, signature.end),
  };
}

/** How a CSR is read. */
export interface CsrReading {
  /**
   * Checks the self-signature of a request whose key is an uncompressed P-256/P-384 point, key
   * import included, off the event loop (CaDeps.ecdsa); other keys, or without one, node:crypto.
   * Either way the same requests are accepted and refused with the same messages.
   */
  ecdsa?: EcdsaVerifier | undefined;
}

/** Parses and verifies a CSR; throws CaError MalformedCSRException for anything wrong with it. */
export async function readCsr(input: string | Uint8Array, reading: CsrReading = {}): Promise<CheckedCsr> {
  const der = csrDer(input);
  let parts: CsrParts;
  let subject: x509.Name;
  let keyAlgorithm: WebAlgorithm;
  let signatureAlgorithm: WebAlgorithm;
  try {
    parts = csrParts(der);
    subject = new x509.Name(nameFromFrame(parts.subject) ?? AsnConvert.parse(parts.subject, asn1X509.Name));
    const [algorithm] = children(parts.spki, readElement(parts.spki, 0));
    keyAlgorithm = webAlgorithm(bytesOf(parts.spki, algorithm!));
    signatureAlgorithm = webAlgorithm(parts.signatureAlgorithm);
  } catch (error) {
    throw malformed('The CSR is not a well-formed PKCS#10 certificate request.', error);
  }
  if (parts.version !== 0) throw malformed(`The CSR has version ${parts.version}; PKCS#10 defines only version 1 (0).`);

  const spki = parts.spki;
  let key: KeyObject | EcPoint;
  try {
    const bits = subjectPublicKeyBits(spki);
    // An RSA key's bits are a DER RSAPublicKey, copied into the certificate as they came.
    if (keyAlgorithm.name?.startsWith('RSA')) checkDer(bits);
    key = (reading.ecdsa && ecPoint(keyAlgorithm, bits)) ?? publicKey(spki, keyAlgorithm, bits);
  } catch (error) {
    throw malformed("The CSR's public key cannot be read.", error);
  }
  const verdict = await verifies(parts, signatureAlgorithm, key, reading.ecdsa);
  // What node:crypto's import refuses (a point off the curve) is refused with the same words.
  if (verdict === 'invalid-key') throw malformed("The CSR's public key cannot be read.");
  if (verdict !== 'valid') throw malformed("The CSR's signature does not verify: the request was altered, or not signed by the key it carries.");

  const { keyType } = checkKey(keyAlgorithm, key);
  let subjectAltNameDer: Uint8Array | undefined;
  let names: RequestedName[] = [];
  let requestsCa = false;
  if (parts.extensionRequests.length > 1)
    throw malformed(`The CSR carries more than one extension request (${parts.extensionRequests.length}); PKCS#9 allows one, with each extension in it once.`);
  try {
    for (const value of parts.extensionRequests) {
      const requested = requestedExtensions(value);
      if (requested.subjectAltName) {
        names = requestedNames(requested.subjectAltName);
        subjectAltNameDer = requested.subjectAltName;
      }
      if (requested.basicConstraints) requestsCa = AsnConvert.parse(requested.basicConstraints, asn1X509.BasicConstraints).cA;
    }
  } catch (error) {
    if (error instanceof CaError) throw error;
    throw malformed('The CSR requests extensions that cannot be read.', error);
  }
  if (names.length > MAX_SUBJECT_ALT_NAMES)
    throw malformed(`The CSR asks for ${names.length} subjectAltNames; the limit is ${MAX_SUBJECT_ALT_NAMES}.`);
  const keyIdentifier = createHash('sha1').update(subjectPublicKeyBits(spki)).digest('hex');
  return { subject, subjectDer: parts.subject, subjectText: subject.toString(), publicKey: spki, keyIdentifier, keyType, names, subjectAltNameDer, requestsCa };
}

/** The string types of attribute values read from their frame, and the AttributeValue member each fills. */
const NAME_STRINGS: Readonly<Record<number, 'utf8String' | 'printableString' | 'ia5String'>> = { 0x0c: 'utf8String', 0x13: 'printableString', 0x16: 'ia5String' };

/**
 * An OBJECT IDENTIFIER's dotted text from its contents, for arcs of up to four octets (every
 * attribute type in use); undefined for anything else, which the schema then reads.
 */
function oidText(der: Uint8Array, oid: DerElement): string | undefined {
  const arcs: number[] = [];
  let value = 0;
  let octets = 0;
  for (let i = oid.start; i < oid.end; i++) {
    const byte = der[i]!;
    // A leading 0x80 octet is not the shortest form.
    if ((octets === 0 && byte === 0x80) || ++octets > 4) return undefined;
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
      octets = 0;
    }
  }
  if (octets !== 0 || arcs.length === 0) return undefined;
  const first = arcs[0]!;
  const [top, second] = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return `${top}.${second}${arcs.length > 1 ? `.${arcs.slice(1).join('.')}` : ''}`;
}

/**
 * A subject (Name, DER, checked) as @peculiar/asn1-x509's structure, built from its frame:
 * SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue { type OID, value }) with
 * each value a UTF8String of ASCII, a PrintableString or an IA5String (one character per octet,
 * as the schema decodes them) — what requests carry. Undefined for any other form (BMPString,
 * TeletexString, non-ASCII UTF-8, an empty RDN, an unusual OID, …), which the schema then parses:
 * the same structure either way, about a tenth of the cost this way.
 */
function nameFromFrame(der: Uint8Array): asn1X509.Name | undefined {
  const name = new asn1X509.Name();
  for (const rdnElement of children(der, readElement(der, 0))) {
    if (rdnElement.tag !== 0x31) return undefined;
    const rdn = new asn1X509.RelativeDistinguishedName();
    for (const attribute of children(der, rdnElement)) {
      const [type, value, ...rest] = attribute.tag === 0x30 ? children(der, attribute) : [];
      if (type?.tag !== 0x06 || value === undefined || rest.length > 0) return undefined;
      const oid = oidText(der, type);
      const member = NAME_STRINGS[value.tag];
      if (oid === undefined || member === undefined) return undefined;
      const bytes = Buffer.from(der.buffer, der.byteOffset + value.start, value.end - value.start);
      if (member === 'utf8String' && bytes.some((byte) => byte >= 0x80)) return undefined;
      rdn.push(new asn1X509.AttributeTypeAndValue({ type: oid, value: new asn1X509.AttributeValue({ [member]: bytes.toString('latin1') }) }));
    }
    if (rdn.length === 0) return undefined;
    name.push(rdn);
  }
  return name;
}

/** GeneralName tags of the IA5String forms ([1] rfc822Name, [2] dNSName, [6] uniformResourceIdentifier), primitive and implicitly tagged. */
const IA5_NAMES: Readonly<Record<number, RequestedName['type']>> = { 0x81: 'email', 0x82: 'dns', 0x86: 'url' };

/**
 * The names of a GeneralNames value (DER, checked). Names of the three IA5String forms, which is
 * what TLS and code-signing requests carry, are read from their frame: their value is their
 * contents, one character per octet, as the schema decodes an IA5String. A request with any
 * other form (an IP address, a directory name, …) is parsed by the schema of
 * @peculiar/asn1-x509 as a whole, which turns each into the text refusals show.
 */
function requestedNames(der: Uint8Array): RequestedName[] {
  const outer = readElement(der, 0);
  if (outer.tag !== 0x30) throw new Error('GeneralNames: not a SEQUENCE');
  const names: RequestedName[] = [];
  for (const name of children(der, outer)) {
    const type = IA5_NAMES[name.tag];
    if (type === undefined) return AsnConvert.parse(der, asn1X509.SubjectAlternativeName).map(requestedName);
    names.push({ type, value: Buffer.from(der.buffer, der.byteOffset + name.start, name.end - name.start).toString('latin1') });
  }
  return names;
}

/** A GeneralName with the type names @peculiar/x509 gives them (what refusals show). */
function requestedName(name: asn1X509.GeneralName): RequestedName {
  if (name.dNSName !== undefined) return { type: 'dns', value: name.dNSName };
  if (name.iPAddress !== undefined) return { type: 'ip', value: name.iPAddress };
  if (name.rfc822Name !== undefined) return { type: 'email', value: name.rfc822Name };
  if (name.uniformResourceIdentifier !== undefined) return { type: 'url', value: name.uniformResourceIdentifier };
  if (name.registeredID !== undefined) return { type: 'id', value: name.registeredID };
  if (name.directoryName !== undefined) return { type: 'dn', value: new x509.Name(name.directoryName).toString() };
  if (name.otherName !== undefined) return { type: 'otherName', value: name.otherName.typeId };
  return { type: name.x400Address !== undefined ? 'x400Address' : 'ediPartyName', value: '' };
}

const JWK_CURVES: Record<string, { crv: 'P-256' | 'P-384'; size: number }> = { 'P-256': { crv: 'P-256', size: 32 }, 'P-384': { crv: 'P-384', size: 48 } };

/** An uncompressed P-256/P-384 point as the request carries it, for an {@link EcdsaVerifier}. */
interface EcPoint {
  curve: 'P-256' | 'P-384';
  point: Uint8Array;
}

/** The key's point when it is an uncompressed P-256/P-384 one; otherwise undefined. */
function ecPoint(algorithm: WebAlgorithm, bits: Uint8Array): EcPoint | undefined {
  const curve = algorithm.name === 'ECDSA' || algorithm.name === 'ECDH' ? JWK_CURVES[algorithm.namedCurve ?? ''] : undefined;
  return curve && bits.length === 1 + 2 * curve.size && bits[0] === 0x04 ? { curve: curve.crv, point: bits } : undefined;
}

/**
 * The request's key for node:crypto. An uncompressed P-256/P-384 point goes in as a JWK, which
 * OpenSSL takes as coordinates (checked to be on the curve) at about half the cost of decoding
 * the SubjectPublicKeyInfo; any other key is decoded from its DER.
 */
function publicKey(spki: Uint8Array, algorithm: WebAlgorithm, bits: Uint8Array): KeyObject {
  const ec = ecPoint(algorithm, bits);
  if (ec) {
    const size = (ec.point.length - 1) / 2;
    const coordinate = (from: number) => Buffer.from(bits.buffer, bits.byteOffset + from, size).toString('base64url');
    const jwk: JsonWebKey = { kty: 'EC', crv: ec.curve, x: coordinate(1), y: coordinate(1 + size) };
    return createPublicKey({ key: jwk, format: 'jwk' });
  }
  return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
}

/** WebCrypto hash names as node:crypto spells them. */
const HASHES: Record<string, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Checks the request's self-signature on the DER as it came (the certificationRequestInfo bytes,
 * the signature bytes; ECDSA signatures stay DER), so no WebCrypto key import or signature
 * re-encoding happens per request. The check itself runs on libuv's thread pool: it is most of
 * a request's own CPU, and on the event loop it would hold up every other request of the worker
 * meanwhile. A key given as its point goes to the {@link EcdsaVerifier}, which imports it there
 * too; a KeyObject to node:crypto's callback form.
 */
function verifies(parts: CsrParts, algorithm: WebAlgorithm, key: KeyObject | EcPoint, ecdsa: EcdsaVerifier | undefined): Promise<EcdsaVerdict> {
  const hashName = typeof algorithm.hash === 'string' ? algorithm.hash : algorithm.hash?.name;
  const hash = hashName === undefined ? undefined : HASHES[hashName.toUpperCase()];
  if (!(key instanceof KeyObject)) {
    if (algorithm.name !== 'ECDSA' || !hash || !ecdsa) throw unsupportedSignature(algorithm);
    // A verifier that fails (not a refusal: an error of its own) is the server's fault, not the request's.
    return ecdsa.verify(key.curve, key.point, hash, parts.info, parts.signature);
  }
  const keyType = key.asymmetricKeyType;
  let options: Parameters<typeof verifySignature>[2] | undefined;
  if (algorithm.name === 'ECDSA' && keyType === 'ec') options = { key, dsaEncoding: 'der' };
  else if (algorithm.name === 'RSASSA-PKCS1-v1_5' && keyType === 'rsa') options = { key, padding: constants.RSA_PKCS1_PADDING };
  else if (algorithm.name === 'RSA-PSS' && (keyType === 'rsa' || keyType === 'rsa-pss') && typeof algorithm.saltLength === 'number')
    options = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.saltLength };
  if (!hash || !options) throw unsupportedSignature(algorithm);
  // A signature that is not even well-formed (ECDSA: not DER) verifies nothing.
  return new Promise((resolve) => {
    try {
      verifySignature(hash, parts.info, options, parts.signature, (error, ok) => resolve(!error && ok ? 'valid' : 'invalid-signature'));
    } catch {
      resolve('invalid-signature');
    }
  });
}

const unsupportedSignature = (algorithm: WebAlgorithm) =>
  malformed(`The CSR's signature algorithm (${algorithm.name ?? 'unnamed'}) is not supported: sign it with ECDSA or RSA PKCS#1 v1.5/PSS.`);

/**
 * Keys a certificate may carry: ECDSA P-256 or P-384, RSA 2048–8192 bits in whole bytes
 * (what the major root programs accept). Read from the SubjectPublicKeyInfo's algorithm and the
 * key node:crypto imported for the signature check.
 */
function checkKey(algorithm: WebAlgorithm, key: KeyObject | EcPoint): { keyType: CsrKeyType } {
  if (algorithm.name === 'ECDSA' || algorithm.name === 'ECDH') {
    const curve = algorithm.namedCurve;
    if (curve !== 'P-256' && curve !== 'P-384') throw malformed(`The CSR's EC key is on curve ${curve ?? 'unknown'}; use P-256 or P-384.`);
    return { keyType: 'ec' };
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' || algorithm.name === 'RSA-PSS' || algorithm.name === 'RSA-OAEP') {
    const bits = (key instanceof KeyObject && key.asymmetricKeyDetails?.modulusLength) || 0;
    if (bits < 2048 || bits > 8192 || bits % 8 !== 0) throw malformed(`The CSR's RSA key has ${bits} bits; use 2048 to 8192 bits in whole bytes.`);
    return { keyType: 'rsa' };
  }
  throw malformed(`The CSR's key type (${algorithm.name ?? 'unknown'}) is not supported; use ECDSA P-256/P-384 or RSA.`);
}
