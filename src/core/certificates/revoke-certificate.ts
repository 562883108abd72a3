/**
 * HsmKms.RevokeCertificate: revokes a certificate the CA signed and re-signs its tier's CRL.
 * The caller needs kms:Sign on the key of the tier that signed it — the issuing key for a leaf
 * or a responder, the root key for the intermediate itself — so revoking the intermediate is a
 * root operation, and quorum rules on the root key's kms:Sign guard it.
 */
import type { Operation } from '../operation.js';
import {
  authorizeSigning,
  caKey,
  certificateAuthority,
  certificateJson,
  onBehalfOf,
  parseCaName,
  parseRevocationReason,
  parseSerialNumber,
} from './certificate-rules.js';

export const revokeCertificate: Operation = {
  name: 'RevokeCertificate',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const caName = parseCaName(input);
    const serial = parseSerialNumber(input);
    const reason = parseRevocationReason(input);
    const ca = certificateAuthority(deps);

    const authority = await ca.describe(caName);
    const certificate = await ca.certificate(authority.name, serial);
    const key = await caKey(deps, authority, certificate.issuer);
    await authorizeSigning(deps, ctx, key, authority);

    const revoked = await onBehalfOf('HsmKms.RevokeCertificate', ctx, () => ca.revoke({ caName: authority.name, serial: certificate.serial, reason }));
    return {
      CaName: authority.name,
      // With the revocation's date and reason: the revoked record carries them.
      ...certificateJson(revoked.certificate),
      CrlUpdated: revoked.crlError === undefined,
    };
  },
};
