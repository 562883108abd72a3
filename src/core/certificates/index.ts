/**
 * The private CA over the API (`HsmKms.*Certificate*`), one file per operation, registered in
 * src/app.ts. They authorize the caller for the CA key that will sign (see certificate-rules.ts)
 * and then call the CA through {@link CertificateAuthorityPort} (port.ts, implemented by src/ca/api.ts).
 */
import type { Operation } from '../operation.js';
import { issueCertificate } from './issue-certificate.js';
export { CERTIFICATE_JOURNAL } from './issue-certificate.js';
import { listCertificateAuthorities } from './list-certificate-authorities.js';
import { listCertificates } from './list-certificates.js';
import { reissueIntermediate } from './reissue-intermediate.js';
import { revokeCertificate } from './revoke-certificate.js';

export type { CertificateAuthorityPort } from './port.js';

export const certificateOperations: readonly Operation[] = [
  issueCertificate,
  revokeCertificate,
  listCertificates,
  reissueIntermediate,
  listCertificateAuthorities,
];
