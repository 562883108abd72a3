/**
 * Issuance: a verified CSR, checked against a profile, becomes a leaf signed by the issuing
 * intermediate through KMS Sign (`MessageType: DIGEST`), recorded before it is returned. The
 * `HsmKms.IssueCertificate` API operation is meant to be a thin wrapper over this.
 */
import 'reflect-metadata';
import { loadAuthority, type LoadedAuthority } from './authority.js';
import { signCertificate, validity } from './certificate-builder.js';
import { readCsr } from './csr.js';
import type { CaDeps } from './deps.js';
import { journalEntry, type JournalEntry } from './certificate-journal.js';
import { CaError } from './errors.js';
import { signingThrough, type DigestSigner } from './kms.js';
import { CERTIFICATE_PROFILES, type CertificateProfileName, type IssuedCertificateRecord } from './model.js';
import { applyProfile, profileDays } from './profiles.js';
import { canonicalSerial } from './serial.js';

export interface IssueCertificateRequest {
  caName: string;
  /** PEM text or DER bytes. */
  csr: string | Uint8Array;
  profile?: CertificateProfileName | undefined;
  days?: number | undefined;
  /**
   * Called with the CA once it is found, before the CSR is read: a refusal ends the call there.
   * It may return the signer to sign the leaf with (the caller's own authorized use of the
   * issuing key); without one the CA signs through its KMS (`deps.kms`).
   */
  authorize?: ((authority: LoadedAuthority) => Promise<DigestSigner | void>) | undefined;
  /**
   * Takes the certificate's journal entry to make it durable before the caller answers (the
   * issuing call's audit record). Given, and the store has a journal, the row is committed
   * without a sync of its own (certificate-journal.ts); otherwise the insert is durable.
   */
  journal?: ((entry: JournalEntry) => void) | undefined;
}

export interface IssuedCertificate {
  record: IssuedCertificateRecord;
  certificatePem: string;
  /** The leaf, then the intermediate: what a TLS server sends. */
  chainPem: string;
  /** The CA that signed it. */
  authority: LoadedAuthority;
}

export async function issueCertificate(deps: CaDeps, request: IssueCertificateRequest): Promise<IssuedCertificate> {
  const authority = await loadAuthority(deps, request.caName);
  const signer = await request.authorize?.(authority);
  const profile = request.profile ?? 'tls-server';
  if (!CERTIFICATE_PROFILES.includes(profile))
    throw new CaError('InvalidArgsException', `Unknown profile '${String(profile).slice(0, 40)}'; use ${CERTIFICATE_PROFILES.join(', ')}.`);
  const days = profileDays(profile, request.days);
  const csr = await readCsr(request.csr, { ecdsa: deps.ecdsa });
  const profileExtensions = applyProfile(profile, csr);

  const intermediateRecord = await deps.store.getCertificate(authority.record.name, authority.intermediateSerial);
  if (intermediateRecord?.revokedAt)
    throw new CaError('InvalidStateException', `The issuing CA of '${authority.record.name}' was revoked on ${intermediateRecord.revokedAt.toISOString()}; it issues no more certificates.`);
  const now = deps.now();
  const { notBefore, notAfter } = validity(now, days);
  if (notAfter > authority.intermediate.notAfter)
    throw new CaError(
      'InvalidArgsException',
      `A certificate valid for ${days} days would outlive the issuing CA (valid until ${authority.intermediate.notAfter.toISOString()}); ask for fewer days.`,
    );

  const issuing = authority.issuing('intermediate');
  const { serial, der, pem: certificatePem } = await signCertificate(signer ? signingThrough(deps.kms, signer) : deps.kms, {
    subject: csr.subjectDer,
    issuer: issuing.issuerName,
    publicKey: csr.publicKey,
    subjectKeyId: csr.keyIdentifier,
    notBefore,
    notAfter,
    issuerKeyId: authority.keyIds.intermediate,
    extensions: [...profileExtensions, ...issuing.extensions],
    signingKey: authority.key('intermediate'),
    purpose: 'leaf-certificate',
  });
  const record: IssuedCertificateRecord = {
    caName: authority.record.name,
    serial: canonicalSerial(serial),
    issuer: 'intermediate',
    kind: profile,
    subject: csr.subjectText,
    notBefore,
    notAfter,
    issuedAt: now,
    certificate: der,
  };
  const journal = request.journal && deps.store.journal;
  if (journal) {
    await journal.insert(record);
    request.journal!(journalEntry(record));
  } else await deps.store.insertCertificate(record);
  return { record, certificatePem, chainPem: `${certificatePem}\n${authority.intermediatePem}\n`, authority };
}
