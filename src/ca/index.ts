/**
 * The private CA: an application over the KMS API. Each export is one operation taking
 * {@link CaDeps}; the CLI (src/cli/ca.ts), the HTTP routes (src/http/ca-routes.ts) and the
 * future `HsmKms.*Certificate` API operations are thin wrappers around them.
 */
export { createCaDeps, type CaDeps } from './deps.js';
export type { CaKms, CaSignaturePurpose, CaStore, RevokeOutcome } from './ports.js';
export * from './model.js';
export { CaError, type CaErrorName } from './errors.js';
export { createKmsClient, inProcessCaKms, sdkCaKms, signingThrough, type KmsConnection } from './kms.js';
export { initCa, DEFAULT_CA_KEY_SPEC, type InitCaRequest, type InitializedCa } from './init-ca.js';
export { issueCertificate, type IssueCertificateRequest, type IssuedCertificate } from './issue-certificate.js';
export { revokeCertificate, type RevokeCertificateRequest } from './revoke-certificate.js';
export { listCertificates, MAX_LIST_LIMIT, type CertificateSummary } from './list-certificates.js';
export { currentCrl, freshCrlPem } from './crl.js';
export { answerOcsp, MAX_OCSP_SIGNING, OCSP_RESPONSE_VALIDITY_S, type OcspResult, type OcspState } from './ocsp-responder.js';
export { MAX_OCSP_REQUEST_BYTES } from './ocsp-format.js';
export { MAX_CSR_BYTES } from './csr.js';
export { CA_PATHS, requireCaName } from './urls.js';
export { loadAuthority } from './authority.js';
export { reissueIntermediate, type ReissuedIntermediate } from './reissue-intermediate.js';
export { caApi } from './api.js';
