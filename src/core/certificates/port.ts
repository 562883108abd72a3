/**
 * What the `HsmKms.*Certificate*` operations need from the private CA (src/ca), in the core's
 * own terms. The CA is an application over the KMS API: it signs through an in-process KMS client
 * as the account root, so these operations authorize the *caller* first (kms:Sign on the CA key
 * that will sign, under its key policy and grants, quorum included) and only then ask the CA.
 * Implemented by src/ca/api.ts; every method throws only KmsError (AWS Private CA's exception
 * names for what the CA refuses) or StoreError.
 */

/** Which of a CA's two keys signed a certificate (and so which key's kms:Sign revoking it takes). */
export type CaTier = 'root' | 'intermediate';

/** A certificate's state as the listing shows it. */
export type CertificateStatus = 'GOOD' | 'REVOKED' | 'EXPIRED';

/** One CA: its KMS keys, its two certificates and where it publishes. */
export interface CertificateAuthorityView {
  name: string;
  keySpec: string;
  createdAt: Date;
  /** KMS key ARNs. */
  rootKeyArn: string;
  intermediateKeyArn: string;
  ocspKeyArn: string;
  /** The KMS signing algorithm both CA keys sign with (MessageType DIGEST). */
  signingAlgorithm: string;
  rootCertificatePem: string;
  intermediateCertificatePem: string;
  /** The current issuing certificate's serial (hex) and expiry. */
  intermediateSerial: string;
  intermediateNotAfter: Date;
  /** When the current issuing certificate was revoked: the CA then issues nothing more. */
  intermediateRevokedAt?: Date | undefined;
  /** `ca.pem`, `crl`, `root.crl`, `ocsp`, … under the CA's base URL. */
  urls: Record<string, string>;
}

/** What authorizing a caller for one of a CA's keys needs to know of the CA. */
export type CaSigningKeys = Pick<CertificateAuthorityView, 'name' | 'rootKeyArn' | 'intermediateKeyArn' | 'ocspKeyArn' | 'signingAlgorithm'>;

/**
 * Signs a digest (MessageType DIGEST) with a CA key for a call authorized to: what `authorize`
 * may hand back so that the CA signs in the authorized call itself instead of through a KMS
 * Sign call of its own. Throws KmsError as Sign does.
 */
export type CaDigestSigner = (keyArn: string, algorithm: string, digest: Uint8Array) => Promise<Uint8Array>;

/** One certificate a CA signed. */
export interface CertificateView {
  serial: string;
  subject: string;
  /** `tls-server`, `tls-client`, `code-signing`, `intermediate-ca`, `ocsp-responder`. */
  kind: string;
  issuer: CaTier;
  notBefore: Date;
  notAfter: Date;
  status: CertificateStatus;
  revokedAt?: Date | undefined;
  /** RFC 5280 name (`keyCompromise`). */
  revocationReason?: string | undefined;
}

export interface CertificateAuthorityPort {
  /** The named CA; ResourceNotFoundException when there is none, InvalidArgsException for a name that cannot be one. */
  describe(caName: string): Promise<CertificateAuthorityView>;
  /** Every CA, by name (at most 1,000). */
  list(): Promise<CertificateAuthorityView[]>;
  /** A certificate by serial (hex, colons allowed); ResourceNotFoundException when the CA signed none with it. */
  certificate(caName: string, serial: string): Promise<CertificateView>;
  /**
   * Signs a CSR (PEM text, or DER/PEM bytes) with the issuing key; the leaf and the chain above
   * it (intermediate, root), PEM. `authorize` is called with the CA as soon as it is found,
   * before the CSR is read or anything signed: the caller's refusal ends the call there.
   */
  issue(request: {
    caName: string;
    csr: string | Uint8Array;
    profile?: string | undefined;
    days?: number | undefined;
    authorize?: ((authority: CaSigningKeys) => Promise<CaDigestSigner | void>) | undefined;
    /**
     * Takes a JSON entry that makes the certificate durable once the caller has made it durable
     * (the call's audit record); the CA may then skip a sync of its own store. Called at most once.
     */
    journal?: ((entry: object) => void) | undefined;
  }): Promise<{
    /** The CA's name as recorded. */
    caName: string;
    certificate: CertificateView;
    certificatePem: string;
    chainPem: string;
  }>;
  /** Revokes and re-signs the tier's CRL; `crlError` when the CRL could not be signed now (the revocation stands). */
  revoke(request: { caName: string; serial: string; reason: string }): Promise<{ certificate: CertificateView; crlError?: string | undefined }>;
  /** A page of certificates in issue order; `marker` is the previous page's `nextMarker` (list-marker.ts). */
  listCertificates(request: { caName: string; limit: number; marker?: string | undefined }): Promise<{ certificates: CertificateView[]; nextMarker?: string | undefined }>;
  /**
   * A new certificate for the same intermediate key and subject, signed by the root (new serial
   * and validity; `days` defaults to the current one's length, and it never outlives the root).
   * Refused once the current intermediate is revoked.
   */
  reissueIntermediate(request: { caName: string; days?: number | undefined }): Promise<{
    certificate: CertificateView;
    certificatePem: string;
    previousSerial: string;
  }>;
}
