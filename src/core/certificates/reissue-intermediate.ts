/**
 * HsmKms.ReissueIntermediate: a new certificate for the CA's issuing key, signed by the root
 * (renewal: same key and subject, a new serial and validity). A root operation: the caller needs
 * kms:Sign on the root key, and a quorum rule covering the root key's kms:Sign — by `KeyId`, or
 * through its `hsmkms:quorum` tag — makes this call wait for approval like any guarded call.
 */
import type { Operation } from '../operation.js';
import { authorizeSigning, caKey, certificateAuthority, certificateJson, onBehalfOf, parseCaName, parseValidityDays } from './certificate-rules.js';

export const reissueIntermediate: Operation = {
  name: 'ReissueIntermediate',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const caName = parseCaName(input);
    const days = parseValidityDays(input, 36500);
    const ca = certificateAuthority(deps);

    const authority = await ca.describe(caName);
    const key = await caKey(deps, authority, 'root');
    await authorizeSigning(deps, ctx, key, authority);

    const reissued = await onBehalfOf('HsmKms.ReissueIntermediate', ctx, () => ca.reissueIntermediate({ caName: authority.name, days }));
    return {
      CaName: authority.name,
      Certificate: reissued.certificatePem,
      CertificateChain: authority.rootCertificatePem,
      PreviousSerialNumber: reissued.previousSerial,
      ...certificateJson(reissued.certificate),
    };
  },
};
