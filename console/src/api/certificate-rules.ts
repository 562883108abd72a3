/**
 * The certificate operations' rules the console repeats, in a module with no browser or Node
 * dependency (a unit test in Node checks them against the service's own tables).
 */

/**
 * RevokeCertificate's reasons, as the wire spells them (AWS Private CA's names for RFC 5280's
 * CRLReason). The server's table is in a module the browser cannot load; a unit test checks that
 * this list is its keys.
 */
export const REVOCATION_REASONS = [
  'UNSPECIFIED',
  'KEY_COMPROMISE',
  'CERTIFICATE_AUTHORITY_COMPROMISE',
  'AFFILIATION_CHANGED',
  'SUPERSEDED',
  'CESSATION_OF_OPERATION',
  'PRIVILEGE_WITHDRAWN',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** IssueCertificate's limit on a CSR, in bytes (the service's MAX_CSR_BYTES; a unit test checks they agree). */
export const MAX_CSR_BYTES = 32 * 1024;
