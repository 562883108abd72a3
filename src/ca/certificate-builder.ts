/**
 * Building and signing one certificate through KMS: the parts every certificate here shares —
 * serial, validity, key identifiers, the issuer's CRL/AIA/OCSP URLs — around the extensions
 * that make it a root, an intermediate, a responder or a leaf.
 */
import 'reflect-metadata';
import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { subjectPublicKeyBits } from './der.js';
import { kmsCrypto, type KmsSigningKey, type X509SigningKey } from './kms-crypto.js';
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
export function keyIdentifier(publicKey: x509.PublicKey): string {
  return createHash('sha1').update(subjectPublicKeyBits(new Uint8Array(publicKey.rawData))).digest('hex');
}

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
  subject: x509.Name;
  issuer: x509.Name;
  publicKey: x509.PublicKey;
  notBefore: Date;
  notAfter: Date;
  /** The issuer's subject key identifier (hex), which becomes this certificate's AKI. */
  issuerKeyId: string;
  /** The subject key identifier (hex) when already known; otherwise computed from `publicKey`. */
  subjectKeyId?: string | undefined;
  /** Extensions besides SKI and AKI. */
  extensions: x509.Extension[];
  signingKey: KmsSigningKey;
  /** Which of the CA's signatures this is (the audit trail and quorum read it). */
  purpose: Extract<CaSignaturePurpose, `${string}-certificate`>;
}

/** Signs the certificate with KMS (Sign, MessageType DIGEST) and returns it with its serial. */
export async function signCertificate(kms: CaKms, order: CertificateOrder): Promise<{ serial: string; certificate: x509.X509Certificate }> {
  const serial = newSerial();
  const extensions = [
    ...order.extensions,
    new x509.SubjectKeyIdentifierExtension(order.subjectKeyId ?? keyIdentifier(order.publicKey)),
    new x509.AuthorityKeyIdentifierExtension(order.issuerKeyId),
  ];
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject: order.subject,
      issuer: order.issuer,
      notBefore: order.notBefore,
      notAfter: order.notAfter,
      publicKey: order.publicKey,
      signingKey: order.signingKey as unknown as X509SigningKey,
      signingAlgorithm: order.signingKey.algorithm,
      extensions,
    },
    kmsCrypto(kms, order.purpose),
  );
  return { serial, certificate };
}
