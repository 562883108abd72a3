/** Listing what a CA signed, a page at a time, with each certificate's status. */
import { KmsError } from '../core/errors.js';
import { readListMarker, writeListMarker, type CertificateListPosition } from '../core/list-marker.js';
import { loadAuthority } from './authority.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import type { IssuedCertificateRecord, IssuerTier, IssuedKind, RevocationReason } from './model.js';

/** One line of `hsmkms ca list` (and of `HsmKms.ListCertificates` later). */
export interface CertificateSummary {
  serial: string;
  subject: string;
  kind: IssuedKind;
  issuer: IssuerTier;
  notBefore: string;
  notAfter: string;
  status: 'good' | 'revoked' | 'expired';
  revokedAt?: string;
  reason?: RevocationReason;
}

export const MAX_LIST_LIMIT = 1000;

export function summary(record: IssuedCertificateRecord, now: Date): CertificateSummary {
  const status = record.revokedAt ? 'revoked' : record.notAfter < now ? 'expired' : 'good';
  return {
    serial: record.serial,
    subject: record.subject,
    kind: record.kind,
    issuer: record.issuer,
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    status,
    ...(record.revokedAt ? { revokedAt: record.revokedAt.toISOString(), reason: record.revocationReason ?? 'unspecified' } : {}),
  };
}

export async function listCertificates(
  deps: CaDeps,
  request: { caName: string; limit?: number | undefined; marker?: string | undefined },
): Promise<{ certificates: CertificateSummary[]; records: IssuedCertificateRecord[]; nextMarker?: string | undefined }> {
  const authority = await loadAuthority(deps, request.caName);
  const limit = Math.min(Math.max(Math.floor(request.limit ?? 100), 1), MAX_LIST_LIMIT);
  const after = request.marker === undefined ? undefined : readMarker(request.marker);
  const page = await deps.store.listCertificates(authority.record.name, { limit, after });
  const now = deps.now();
  const last = page.items.at(-1);
  return {
    certificates: page.items.map((r) => summary(r, now)),
    records: page.items,
    nextMarker: page.more && last ? writeListMarker('certificates', { issuedAt: last.issuedAt, serial: last.serial }) : undefined,
  };
}

/** The one marker format (src/core/list-marker.ts), refused in the CA's own terms. */
function readMarker(marker: string): CertificateListPosition {
  try {
    return readListMarker('certificates', marker);
  } catch (error) {
    if (error instanceof KmsError) throw new CaError('InvalidArgsException', 'The marker is not one this CA handed out; start the listing again without it.');
    throw error;
  }
}
