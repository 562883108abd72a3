/**
 * How the CA signs with each key spec: the KMS signing algorithm, the digest it takes, the
 * WebCrypto algorithm @peculiar/x509 encodes into certificates, and the signature
 * AlgorithmIdentifier OID (for OCSP responses, which are built without @peculiar/x509).
 *
 * ECDSA keys sign with the hash of their own size (P-256/SHA-256, P-384/SHA-384), as Mozilla's
 * root store policy requires; RSA keys with SHA-256 and PKCS#1 v1.5, which every client accepts.
 */
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { CaKeySpec } from './model.js';
import type { CaSigningAlgorithm } from './ports.js';

export interface CaSigningProfile {
  kmsAlgorithm: CaSigningAlgorithm;
  /** Node's digest name. */
  hash: 'sha256' | 'sha384';
  /** What @peculiar/x509 reads from the signing key and signing algorithm. */
  webCrypto: { name: 'ECDSA'; namedCurve: 'P-256' | 'P-384'; hash: 'SHA-256' | 'SHA-384' } | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256' };
  /** The signatureAlgorithm OID; RSA's carries NULL parameters. */
  signatureOid: string;
  rsa: boolean;
}

export const CA_SIGNING: Record<CaKeySpec, CaSigningProfile> = {
  ECC_NIST_P256: {
    kmsAlgorithm: 'ECDSA_SHA_256',
    hash: 'sha256',
    webCrypto: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
    signatureOid: '1.2.840.10045.4.3.2',
    rsa: false,
  },
  ECC_NIST_P384: {
    kmsAlgorithm: 'ECDSA_SHA_384',
    hash: 'sha384',
    webCrypto: { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' },
    signatureOid: '1.2.840.10045.4.3.3',
    rsa: false,
  },
  RSA_3072: {
    kmsAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
    hash: 'sha256',
    webCrypto: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    signatureOid: '1.2.840.113549.1.1.11',
    rsa: true,
  },
  RSA_4096: {
    kmsAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
    hash: 'sha256',
    webCrypto: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    signatureOid: '1.2.840.113549.1.1.11',
    rsa: true,
  },
};

/** The signature AlgorithmIdentifier a profile writes (certificates, OCSP responses). */
export function signatureAlgorithmIdentifier(signing: Pick<CaSigningProfile, 'signatureOid' | 'rsa'>): AlgorithmIdentifier {
  // RSA signature algorithms carry NULL parameters; ECDSA ones none.
  return new AlgorithmIdentifier({ algorithm: signing.signatureOid, ...(signing.rsa ? { parameters: null } : {}) });
}
