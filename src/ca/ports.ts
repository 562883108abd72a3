/**
 * What the CA engine depends on: a KMS that creates signing keys and signs digests (any KMS
 * that speaks the AWS API — hsmkms in-process, hsmkms over HTTP, AWS KMS itself), and a store
 * for its records. Implementations: kms.ts (the AWS SDK) and src/store/sql/ca-repository.ts.
 */
import type { CertificateListPosition } from '../core/list-marker.js';
import type { Page } from '../core/ports.js';
import type {
  CaAuthorityRecord,
  CaKeySpec,
  CrlState,
  IssuedCertificateRecord,
  IssuerTier,
  RevocationReason,
  RevokedEntry,
  StoredCrl,
} from './model.js';

/** KMS signing algorithms the CA uses, in AWS KMS's spelling. */
export type CaSigningAlgorithm = 'ECDSA_SHA_256' | 'ECDSA_SHA_384' | 'RSASSA_PKCS1_V1_5_SHA_256';

/**
 * Why the CA signs: each signature it asks KMS for is one of these. The in-process CA names it
 * on the call (see `inProcessCaKms` in kms.ts), so the audit trail says which use of a CA key a
 * Sign was, and quorum can exempt the CA's own signatures explicitly (src/core/in-process-calls.ts).
 */
export type CaSignaturePurpose =
  | 'root-certificate'
  | 'intermediate-certificate'
  | 'leaf-certificate'
  | 'ocsp-responder-certificate'
  | 'crl'
  | 'ocsp-response';

/** The part of the KMS API the CA uses. Never sees private key material. */
export interface CaKms {
  /** CreateKey (SIGN_VERIFY, default key policy, the given tags); returns the key ARN and its public key. */
  createSigningKey(
    keySpec: CaKeySpec,
    description: string,
    tags: Record<string, string>,
  ): Promise<{ keyId: string; publicKey: Uint8Array }>;
  /** GetPublicKey: SubjectPublicKeyInfo, DER. */
  getPublicKey(keyId: string): Promise<Uint8Array>;
  /** Sign with `MessageType: DIGEST`; the signature as KMS returns it (ECDSA: DER). */
  signDigest(keyId: string, algorithm: CaSigningAlgorithm, digest: Uint8Array, purpose: CaSignaturePurpose): Promise<Uint8Array>;
  /** ScheduleKeyDeletion: for keys a failed `ca init` made and nothing refers to. */
  scheduleKeyDeletion(keyId: string, pendingWindowInDays: number): Promise<void>;
}

/** Result of {@link CaStore.revokeCertificate}. */
export type RevokeOutcome =
  | { outcome: 'revoked'; certificate: IssuedCertificateRecord }
  | { outcome: 'already-revoked'; certificate: IssuedCertificateRecord }
  | { outcome: 'not-found' };

/** Persistence for CAs, the certificates they signed and their CRLs. Each method is atomic. */
export interface CaStore {
  /** Records a new CA with its intermediate certificate; throws StoreError `conflict` (certificate-authority) if the name is taken. */
  insertAuthority(authority: CaAuthorityRecord, intermediate: IssuedCertificateRecord): Promise<void>;
  getAuthority(name: string): Promise<CaAuthorityRecord | undefined>;
  listAuthorities(): Promise<CaAuthorityRecord[]>;

  /** Throws StoreError `conflict` (certificate) for a serial the CA used already. */
  insertCertificate(certificate: IssuedCertificateRecord): Promise<void>;
  /**
   * Makes `intermediate` the CA's issuing certificate and records it, together, if the CA's
   * current one is still `previous` (DER); otherwise throws StoreError `not-found`.
   */
  replaceIntermediate(caName: string, previous: Uint8Array, intermediate: IssuedCertificateRecord): Promise<void>;
  getCertificate(caName: string, serial: string): Promise<IssuedCertificateRecord | undefined>;
  /** Up to `limit` (clamped to 1–1000) in (issuedAt, serial) order, oldest first, after `after` when given. */
  listCertificates(caName: string, options: { limit: number; after?: CertificateListPosition | undefined }): Promise<Page<IssuedCertificateRecord>>;
  /** The unrevoked OCSP responder certificate of a tier that expires last. */
  currentResponder(caName: string, issuer: IssuerTier): Promise<IssuedCertificateRecord | undefined>;
  /** Marks the certificate revoked and bumps its tier's revocation epoch, together. */
  revokeCertificate(caName: string, serial: string, at: Date, reason: RevocationReason): Promise<RevokeOutcome>;

  crlState(caName: string, issuer: IssuerTier): Promise<CrlState>;
  /**
   * Allocates the tier's next CRL number and reads what the CRL must list: the epoch first,
   * then the revoked entries, so the list is never older than the epoch it is filed under.
   */
  beginCrl(caName: string, issuer: IssuerTier): Promise<{ crlNumber: number; epoch: number; revoked: RevokedEntry[] }>;
  /** Keeps `crl` as the tier's current CRL unless a higher-numbered one is stored already. */
  saveCrl(caName: string, issuer: IssuerTier, crl: StoredCrl): Promise<void>;
  /**
   * This store for use only inside API calls that run in the metadata store's read scope
   * (`RequestReadScope`, the dispatcher's): a store that keeps rows may then check them for
   * commits once per call, with the call's other reads, rather than on every read. Optional.
   */
  forApiCalls?(): CaStore;
  /**
   * Present once {@link enableJournal} was called: a certificate may then be made durable by its
   * issuance's audit record instead of a sync of the store's own (see certificate-journal.ts).
   * Absent: every insert is durable before it resolves.
   */
  readonly journal?: CertificateJournal | undefined;
  /**
   * Turns {@link journal} on (SQLite): `position` is this process's audit chain and the last
   * sequence it has numbered. Call once {@link restoreJournaled} has run.
   */
  enableJournal?(position: () => { nodeId: string; sequence: number }): CertificateJournal;
  /** Per journal (audit chain), the last position whose certificates are all in the store. */
  journalMarks?(): Promise<Map<string, number>>;
  /**
   * Durably inserts the certificates the store lacks (a row present is left as it is: a
   * revocation stands), then moves the marks forward; how many rows were missing.
   */
  restoreJournaled?(certificates: IssuedCertificateRecord[], marks: ReadonlyMap<string, number>): Promise<number>;
}

/** Certificates kept durable by a journal beside the store (the audit trail): see certificate-journal.ts. */
export interface CertificateJournal {
  /**
   * Commits the row, visible to every reader at once, without waiting for it to reach the disk:
   * the caller must make the certificate's journal entry durable before anyone hears of it.
   */
  insert(certificate: IssuedCertificateRecord): Promise<void>;
}

/** What an {@link EcdsaVerifier} found: the signature verifies, does not, or the key is no point of the curve. */
export type EcdsaVerdict = 'valid' | 'invalid-signature' | 'invalid-key';

/**
 * Checks an ECDSA signature (DER) over `data` hashed with `hash` (node:crypto's name: sha1,
 * sha256, sha384, sha512) by a key given as its uncompressed point (0x04 ‖ X ‖ Y) on P-256 or
 * P-384, key import included, off the event loop: the CA's check of a CSR's self-signature
 * (csr.ts). Optional: without one the CA imports the key with node:crypto on the calling thread
 * (src/native/ecdsa-verify.ts explains the difference).
 */
export interface EcdsaVerifier {
  verify(curve: 'P-256' | 'P-384', point: Uint8Array, hash: string, data: Uint8Array, signature: Uint8Array): Promise<EcdsaVerdict>;
}
