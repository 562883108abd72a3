/**
 * Building and signing one certificate through KMS: the parts every certificate here shares —
 * serial, validity, key identifiers, the issuer's CRL/AIA/OCSP URLs — around the extensions
 * that make it a root, an intermediate, a responder or a leaf.
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { element, pem, subjectPublicKeyBits } from './der.js';
import { signatureAlgorithmIdentifier, type CaSigningProfile } from './key-specs.js';
import { signWithKms, type KmsSigningKey } from './kms-crypto.js';
import type { CaKms, CaSignaturePurpose } from './ports.js';
import { newSerial } from './serial.js';

const DAY_MS = 86_400_000;
/** Clocks disagree: certificates start a little in the past (the CA/B Forum allows up to 48 h). */
const BACKDATE_MS = 5 * 60_000;

/** Whole seconds: DER times carry no fractions. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/**
 * `days` of validity counted the way RFC 5280 and the linters do (notBefore and notAfter both
 * inclusive): notAfter is one second short of `days` whole days.
 */
export function validity(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  const notBefore = wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS - 1000) };
}

/** SHA-1 over the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1), hex. */
export function keyIdentifier(publicKey: x509.PublicKey | Uint8Array): string {
  return createHash('sha1').update(subjectPublicKeyBits(spkiDer(publicKey))).digest('hex');
}

/** SubjectPublicKeyInfo, DER. */
const spkiDer = (publicKey: x509.PublicKey | Uint8Array) => (publicKey instanceof Uint8Array ? publicKey : new Uint8Array(publicKey.rawData));

/** Where relying parties find the issuer's certificate, its revocation list and its responder. */
export interface IssuerUrls {
  crl: string;
  caIssuers: string;
  ocsp: string;
}

export function issuerUrlExtensions(urls: IssuerUrls): x509.Extension[] {
  return [
    new x509.CRLDistributionPointsExtension([urls.crl]),
    new x509.AuthorityInfoAccessExtension({
      ocsp: [new x509.GeneralName('url', urls.ocsp)],
      caIssuers: [new x509.GeneralName('url', urls.caIssuers)],
    }),
  ];
}

export interface CertificateOrder {
  /** A name, or its DER. */
  subject: x509.Name | Uint8Array;
  issuer: x509.Name | Uint8Array;
  /** The subject's key, or its SubjectPublicKeyInfo (DER). */
  publicKey: x509.PublicKey | Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The issuer's subject key identifier (hex), which becomes this certificate's AKI. */
  issuerKeyId: string;
  /** The subject key identifier (hex) when already known; otherwise computed from `publicKey`. */
  subjectKeyId?: string | undefined;
  /** Extensions besides SKI and AKI, or their DER. */
  extensions: readonly (x509.Extension | Uint8Array)[];
  signingKey: KmsSigningKey;
  /** Which of the CA's signatures this is (the audit trail and quorum read it). */
  purpose: Extract<CaSignaturePurpose, `${string}-certificate`>;
}

/** A certificate just signed: its DER and PEM, and (parsed on first use) the certificate. */
export interface SignedCertificate {
  serial: string;
  der: Uint8Array;
  pem: string;
  readonly certificate: x509.X509Certificate;
}

/** `[0] EXPLICIT Version v3`. */
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
/** `OBJECT IDENTIFIER 2.5.29.14` (id-ce-subjectKeyIdentifier). */
const SUBJECT_KEY_IDENTIFIER_OID = Uint8Array.of(0x06, 0x03, 0x55, 0x1d, 0x0e);

/** The SKI extension (not critical): SEQUENCE { extnID, extnValue OCTET STRING { KeyIdentifier OCTET STRING } }. */
function subjectKeyIdentifierDer(keyId: string): Buffer {
  return element(0x30, SUBJECT_KEY_IDENTIFIER_OID, element(0x04, element(0x04, Buffer.from(keyId, 'hex'))));
}

/** The signature AlgorithmIdentifier of each signing profile, DER (encoded once per OID). */
const algorithmIdentifiers = new Map<string, Uint8Array>();
function algorithmIdentifierDer(signing: CaSigningProfile): Uint8Array {
  let der = algorithmIdentifiers.get(signing.signatureOid);
  if (!der) {
    der = new Uint8Array(AsnConvert.serialize(signatureAlgorithmIdentifier(signing)));
    algorithmIdentifiers.set(signing.signatureOid, der);
  }
  return der;
}

/** The AKI extension for an issuer key identifier: the same few issuers each time, so kept. */
const authorityKeyIdentifiers = new Map<string, Uint8Array>();
function authorityKeyIdentifierDer(keyId: string): Uint8Array {
  let der = authorityKeyIdentifiers.get(keyId);
  if (!der) {
    der = new Uint8Array(new x509.AuthorityKeyIdentifierExtension(keyId).rawData);
    if (authorityKeyIdentifiers.size >= 256) authorityKeyIdentifiers.clear();
    authorityKeyIdentifiers.set(keyId, der);
  }
  return der;
}

/** A positive INTEGER from hex (the serial: see serial.ts). */
function integerDer(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  let first = 0;
  while (first < bytes.length - 1 && bytes[first] === 0 && !(bytes[first + 1]! & 0x80)) first++;
  bytes = bytes.subarray(first);
  return element(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
function timeDer(date: Date): Buffer {
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? element(0x17, Buffer.from(`${two(year % 100)}${rest}`, 'latin1')) : element(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'latin1'));
}

const nameDer = (name: x509.Name | Uint8Array) => (name instanceof Uint8Array ? name : new Uint8Array(name.toArrayBuffer()));

/**
 * Signs the certificate with KMS (Sign, MessageType DIGEST) and returns it with its serial.
 * The TBSCertificate is framed here from parts @peculiar/x509 has encoded (names, key,
 * extensions) and hashed as it will be sent, and the KMS signature goes into the certificate as
 * KMS returns it (ECDSA: DER, as X.509 wants): no parse, re-serialization or signature
 * re-encoding of the whole certificate per issuance.
 */
export async function signCertificate(kms: CaKms, order: CertificateOrder): Promise<SignedCertificate> {
  const serial = newSerial();
  const signing = order.signingKey.signing;
  const algorithm = algorithmIdentifierDer(signing);
  const extensions = [
    ...order.extensions.map((extension) => (extension instanceof Uint8Array ? extension : new Uint8Array(extension.rawData))),
    subjectKeyIdentifierDer(order.subjectKeyId ?? keyIdentifier(order.publicKey)),
    authorityKeyIdentifierDer(order.issuerKeyId),
  ];
  const tbs = element(
    0x30,
    VERSION_3,
    integerDer(serial),
    algorithm,
    nameDer(order.issuer),
    element(0x30, timeDer(order.notBefore), timeDer(order.notAfter)),
    nameDer(order.subject),
    spkiDer(order.publicKey),
    element(0xa3, element(0x30, ...extensions)),
  );
  const signature = await signWithKms(kms, order.signingKey, tbs, order.purpose);
  const der = element(0x30, tbs, algorithm, element(0x03, Uint8Array.of(0), signature));
  let parsed: x509.X509Certificate | undefined;
  return {
    serial,
    der,
    pem: pem(der, 'CERTIFICATE'),
    get certificate() {
      return (parsed ??= new x509.X509Certificate(der));
    },
  };
}
