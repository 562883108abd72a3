/**
 * The private CA's records and vocabulary. String unions whose values are the ones written in
 * the store, on the command line and (later) on the wire.
 */

/** KMS key specs a CA may use, in AWS KMS's spelling. */
export const CA_KEY_SPECS = ['ECC_NIST_P384', 'ECC_NIST_P256', 'RSA_3072', 'RSA_4096'] as const;
export type CaKeySpec = (typeof CA_KEY_SPECS)[number];

/** What a leaf certificate is for; each name selects one row of the profile table. */
export const CERTIFICATE_PROFILES = ['tls-server', 'tls-client', 'code-signing'] as const;
export type CertificateProfileName = (typeof CERTIFICATE_PROFILES)[number];

/** Every kind of certificate the CA records: leaves, its own intermediate, its OCSP responders. */
export type IssuedKind = CertificateProfileName | 'intermediate-ca' | 'ocsp-responder';

/** Which of the CA's two keys signed a certificate (and so which CRL lists it). */
export type IssuerTier = 'root' | 'intermediate';

/**
 * RFC 5280 CRLReason names that may be given when revoking (certificateHold and removeFromCRL
 * are left out: a revocation here is final).
 */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** RFC 5280 §5.3.1 reason codes. */
export const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
};

/** One CA: a root and an issuing intermediate, both KMS keys, and a delegated OCSP key. */
export interface CaAuthorityRecord {
  /** 1–64 of letters, digits, `.`, `_`, `-`; appears in URLs. */
  name: string;
  createdAt: Date;
  keySpec: CaKeySpec;
  /** The prefix of the CRL, AIA and OCSP URLs written into certificates (no trailing slash). */
  baseUrl: string;
  /** KMS key ARNs. */
  rootKeyId: string;
  intermediateKeyId: string;
  ocspKeyId: string;
  /** DER. */
  rootCertificate: Uint8Array;
  intermediateCertificate: Uint8Array;
}

/** A certificate the CA signed. */
export interface IssuedCertificateRecord {
  caName: string;
  /** Lowercase hex without leading zero octets (see serial.ts). */
  serial: string;
  issuer: IssuerTier;
  kind: IssuedKind;
  /** RFC 4514 string, for people. */
  subject: string;
  notBefore: Date;
  notAfter: Date;
  issuedAt: Date;
  /** DER. */
  certificate: Uint8Array;
  revokedAt?: Date | undefined;
  revocationReason?: RevocationReason | undefined;
}

/** A revoked serial as a CRL lists it. */
export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

/** The newest signed CRL of one tier, and what it was built from. */
export interface StoredCrl {
  crlNumber: number;
  /** The tier's revocation epoch when the CRL's revoked list was read. */
  epoch: number;
  thisUpdate: Date;
  nextUpdate: Date;
  /** DER. */
  crl: Uint8Array;
}

/** One tier's CRL bookkeeping: the epoch grows with every revocation. */
export interface CrlState {
  revocationEpoch: number;
  current?: StoredCrl | undefined;
}
