/**
 * The private CA as the `HsmKms.*Certificate*` API operations see it
 * ({@link CertificateAuthorityPort}, src/core/certificates/port.ts): records turned into views,
 * and every CaError turned into the KmsError the client sees — the same AWS Private CA exception
 * name, HTTP 400 — except a KMS that failed on its side, which stays an internal error (500,
 * details in the log).
 */
import 'reflect-metadata';
import { KMSServiceException } from '@aws-sdk/client-kms';
import type { CaSigningKeys, CertificateAuthorityPort, CertificateAuthorityView, CertificateView } from '../core/certificates/port.js';
import { BackendError, KmsError } from '../core/errors.js';
import { loadAuthority, loadedAuthority, type LoadedAuthority } from './authority.js';
import type { CaDeps } from './deps.js';
import { CaError } from './errors.js';
import { issueCertificate } from './issue-certificate.js';
import { CA_SIGNING } from './key-specs.js';
import { listCertificates } from './list-certificates.js';
import { CERTIFICATE_PROFILES, REVOCATION_REASONS, type CertificateProfileName, type IssuedCertificateRecord, type RevocationReason } from './model.js';
import { reissueIntermediate } from './reissue-intermediate.js';
import { revokeCertificate } from './revoke-certificate.js';
import { parseSerial } from './serial.js';

/** The CA behind the API operations (which the dispatcher runs in its read scope). */
export function caApi(caDeps: CaDeps): CertificateAuthorityPort {
  const deps: CaDeps = { ...caDeps, store: caDeps.store.forApiCalls?.() ?? caDeps.store };
  return {
    describe: (caName) => wire(async () => view(deps, await loadAuthority(deps, caName))),
    list: () =>
      wire(async () => {
        const out: CertificateAuthorityView[] = [];
        for (const record of await deps.store.listAuthorities()) out.push(await view(deps, await loadedAuthority(record)));
        return out;
      }),
    certificate: (caName, serial) =>
      wire(async () => {
        const authority = await loadAuthority(deps, caName);
        const canonical = parseSerial(serial);
        const record = await deps.store.getCertificate(authority.record.name, canonical);
        if (!record) throw new CaError('ResourceNotFoundException', `CA '${authority.record.name}' has issued no certificate with serial ${canonical}.`);
        return certificateView(record, deps.now());
      }),
    issue: (request) =>
      wire(async () => {
        const profile = request.profile;
        if (profile !== undefined && !(CERTIFICATE_PROFILES as readonly string[]).includes(profile))
          throw new CaError('InvalidArgsException', `Unknown profile '${profile.slice(0, 40)}'; use ${CERTIFICATE_PROFILES.join(', ')}.`);
        const authorize = request.authorize;
        const issued = await issueCertificate(deps, {
          caName: request.caName,
          csr: request.csr,
          profile: profile as CertificateProfileName | undefined,
          days: request.days,
          authorize: authorize && ((authority) => authorize(signingKeys(authority))),
          journal: request.journal,
        });
        const authority = issued.authority;
        return {
          caName: authority.record.name,
          certificate: certificateView(issued.record, deps.now()),
          certificatePem: pemLine(issued.certificatePem),
          chainPem: `${pemLine(authority.intermediatePem)}${pemLine(authority.rootPem)}`,
        };
      }),
    revoke: (request) =>
      wire(async () => {
        if (!(REVOCATION_REASONS as readonly string[]).includes(request.reason))
          throw new CaError('InvalidArgsException', `Unknown revocation reason '${request.reason.slice(0, 40)}'.`);
        const revoked = await revokeCertificate(deps, { caName: request.caName, serial: request.serial, reason: request.reason as RevocationReason });
        return { certificate: certificateView(revoked.record, deps.now()), crlError: revoked.crlError };
      }),
    listCertificates: (request) =>
      wire(async () => {
        const authority = await loadAuthority(deps, request.caName);
        const page = await listCertificates(deps, { caName: authority.record.name, limit: request.limit, marker: request.marker });
        const now = deps.now();
        return { certificates: page.records.map((r) => certificateView(r, now)), nextMarker: page.nextMarker };
      }),
    reissueIntermediate: (request) =>
      wire(async () => {
        const reissued = await reissueIntermediate(deps, request);
        return { certificate: certificateView(reissued.record, deps.now()), certificatePem: pemLine(reissued.certificatePem), previousSerial: reissued.previousSerial };
      }),
  };
}

async function view(deps: CaDeps, authority: LoadedAuthority): Promise<CertificateAuthorityView> {
  const record = authority.record;
  const current = await deps.store.getCertificate(record.name, authority.intermediateSerial);
  return {
    name: record.name,
    keySpec: record.keySpec,
    createdAt: record.createdAt,
    rootKeyArn: record.rootKeyId,
    intermediateKeyArn: record.intermediateKeyId,
    ocspKeyArn: record.ocspKeyId,
    signingAlgorithm: CA_SIGNING[record.keySpec].kmsAlgorithm,
    rootCertificatePem: pemLine(authority.rootPem),
    intermediateCertificatePem: pemLine(authority.intermediatePem),
    intermediateSerial: authority.intermediateSerial,
    intermediateNotAfter: authority.intermediate.notAfter,
    intermediateRevokedAt: current?.revokedAt,
    urls: { ...authority.urls },
  };
}

function signingKeys(authority: LoadedAuthority): CaSigningKeys {
  const record = authority.record;
  return {
    name: record.name,
    rootKeyArn: record.rootKeyId,
    intermediateKeyArn: record.intermediateKeyId,
    ocspKeyArn: record.ocspKeyId,
    signingAlgorithm: CA_SIGNING[record.keySpec].kmsAlgorithm,
  };
}

function certificateView(record: IssuedCertificateRecord, now: Date): CertificateView {
  return {
    serial: record.serial,
    subject: record.subject,
    kind: record.kind,
    issuer: record.issuer,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    status: record.revokedAt ? 'REVOKED' : record.notAfter < now ? 'EXPIRED' : 'GOOD',
    revokedAt: record.revokedAt,
    revocationReason: record.revokedAt ? (record.revocationReason ?? 'unspecified') : undefined,
  };
}

/** PEM as @peculiar/x509 writes it, ending in exactly one newline. */
function pemLine(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

/** Runs a CA call, turning its refusals into the client's KmsError (see the module comment). */
async function wire<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof CaError)) throw error;
    // The HSM failed under a signature made in this call: the dispatcher logs it with its detail
    // and answers as for any HSM fault (DependencyTimeoutException for a timeout).
    if (error.cause instanceof BackendError) throw error.cause;
    if (error.type === 'RequestFailedException' && !isClientFault(error.cause)) throw error;
    return Promise.reject(new KmsError(error.type, error.message, { cause: error }));
  }
}

/** The KMS refused for a reason of the request's (a disabled or deleted key), not its own failure. */
function isClientFault(cause: unknown): boolean {
  if (cause instanceof KmsError) return cause.httpStatus < 500;
  return cause instanceof KMSServiceException && cause.$fault === 'client';
}
