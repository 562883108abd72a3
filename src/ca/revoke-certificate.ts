/**
 * Revocation: recorded with its time and reason (bumping the tier's revocation epoch in the
 * same transaction), then the tier's CRL is signed again at once. If that signing fails the
 * revocation stands and the next CRL or OCSP reader sees it anyway.
 */
import { loadAuthority } from './authority.js';
import { wholeSeconds } from './certificate-builder.js';
import { signCrl } from './crl.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import { REVOCATION_REASONS, type IssuedCertificateRecord, type RevocationReason } from './model.js';
import { parseSerial } from './serial.js';

export interface RevokeCertificateRequest {
  caName: string;
  /** Hex, with or without colons. */
  serial: string;
  reason?: RevocationReason | undefined;
}

export async function revokeCertificate(
  deps: CaDeps,
  request: RevokeCertificateRequest,
): Promise<{ record: IssuedCertificateRecord; crlError?: string | undefined }> {
  const authority = await loadAuthority(deps, request.caName);
  const serial = parseSerial(request.serial);
  const reason = request.reason ?? 'unspecified';
  if (!REVOCATION_REASONS.includes(reason))
    throw new CaError('InvalidArgsException', `Unknown revocation reason '${String(reason).slice(0, 40)}'; use ${REVOCATION_REASONS.join(', ')}.`);
  const existing = await deps.store.getCertificate(authority.record.name, serial);
  if (!existing) throw new CaError('ResourceNotFoundException', `CA '${authority.record.name}' has issued no certificate with serial ${serial}.`);
  if (reason === 'cACompromise' && existing.kind !== 'intermediate-ca')
    throw new CaError('InvalidArgsException', 'cACompromise applies to the intermediate CA certificate only; use keyCompromise for a leaf.');

  // Whole seconds: CRL and OCSP times carry no fractions.
  const result = await deps.store.revokeCertificate(authority.record.name, serial, wholeSeconds(deps.now()), reason);
  if (result.outcome === 'not-found') throw new CaError('ResourceNotFoundException', `CA '${authority.record.name}' has issued no certificate with serial ${serial}.`);
  if (result.outcome === 'already-revoked')
    throw new CaError(
      'RequestAlreadyProcessedException',
      `Certificate ${serial} was revoked already, on ${result.certificate.revokedAt?.toISOString()} (${result.certificate.revocationReason ?? 'unspecified'}).`,
    );
  try {
    await signCrl(deps, authority, result.certificate.issuer);
    return { record: result.certificate };
  } catch (error) {
    return { record: result.certificate, crlError: error instanceof Error ? error.message : String(error) };
  }
}
