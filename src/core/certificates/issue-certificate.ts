/**
 * HsmKms.IssueCertificate: a leaf from a CSR, signed by the CA's issuing (intermediate) key —
 * allowed only when the caller may kms:Sign with that key (MessageType DIGEST, the CA's
 * algorithm) under its key policy, identity policies and grants; quorum rules on that key apply
 * to this call. Nothing is signed or recorded for a caller who may not.
 *
 * The signature is made in this call, as the caller's authorized use of the key (see
 * `authorizedSigner` in certificate-rules.ts): the key's state and algorithm are checked as
 * Sign checks them, and this call's one audit record names the key, the signing algorithm and
 * the authorization decision — there is no separate Sign call or record for an issuance. So the
 * CA makes no KMS call of its own here, and the call runs outside any in-process call context
 * (which, while one is in progress, puts async hooks on every promise of the process).
 */
import { KmsError } from '../errors.js';
import type { Operation } from '../operation.js';
import { isBase64, optionalEnum, requiredString } from '../validation.js';
import { authorizedSigner, authorizeSigning, caKey, certificateAuthority, certificateJson, parseCaName, parseValidityDays } from './certificate-rules.js';
import type { CaSigningKeys } from './port.js';
import { operationKey } from '../registry.js';

/** The CA's CSR limit (src/ca/csr.ts), as PEM text or as base64 of the DER or PEM bytes. */
const MAX_CSR_BYTES = 32 * 1024;
const MAX_CSR_CHARACTERS = Math.ceil(MAX_CSR_BYTES / 3) * 4;
const PROFILES = ['tls-server', 'tls-client', 'code-signing'] as const;
const JOURNAL_MEMBER = 'issuedCertificate';

export const issueCertificate: Operation = {
  name: 'IssueCertificate',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const caName = parseCaName(input);
    const csr = parseCsr(input);
    const profile = optionalEnum(input, 'Profile', PROFILES);
    const days = parseValidityDays(input, 36500);
    const ca = certificateAuthority(deps);

    const authorize = async (authority: CaSigningKeys) => {
      const key = await caKey(deps, authority, 'intermediate');
      await authorizeSigning(deps, ctx, key, authority);
      return authorizedSigner(deps, ctx, key, authority, 'leaf-certificate');
    };
    // A record that is on disk before the answer keeps the certificate: the CA may skip its own sync.
    const note = deps.audit.recordsDurably ? ctx.note : undefined;
    const journal = note && ((entry: object) => note({ [JOURNAL_MEMBER]: entry }));
    const issued = await ca.issue({ caName, csr, profile, days, authorize, journal });
    return {
      CaName: issued.caName,
      Certificate: issued.certificatePem,
      CertificateChain: issued.chainPem,
      ...certificateJson(issued.certificate),
    };
  },
};

/**
 * Where an issuance's audit record carries the CA's journal entry for the certificate
 * (src/ca/certificate-journal.ts), read back after a crash: the record's event name and its
 * member of `additionalEventData`.
 */
export const CERTIFICATE_JOURNAL = { eventName: operationKey(issueCertificate), member: JOURNAL_MEMBER } as const;

/**
 * `Csr`: PEM text, or base64 of the request's bytes (DER or PEM) as AWS Private CA's blob member
 * carries it. The CA checks the rest (its structure, signature and profile).
 */
function parseCsr(input: Record<string, unknown>): string | Buffer {
  const text = requiredString(input, 'Csr', { min: 1, max: MAX_CSR_CHARACTERS });
  if (text.includes('-----BEGIN')) return text;
  const compact = text.replace(/[\r\n]/g, '');
  if (!isBase64(compact))
    throw new KmsError('MalformedCSRException', 'Csr must be a PEM certificate request ("-----BEGIN CERTIFICATE REQUEST-----") or base64 of its DER or PEM bytes.');
  return Buffer.from(compact, 'base64');
}
