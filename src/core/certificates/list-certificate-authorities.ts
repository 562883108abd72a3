/**
 * HsmKms.ListCertificateAuthorities: every CA with its keys, certificates and URLs (at most
 * 1,000; CAs are few). What it shows is what the CA publishes anyway at /ca/NAME/ plus key ARNs,
 * so every role may list (`hsmkms:ListCertificateAuthorities`, an account listing).
 */
import type { Operation } from '../operation.js';
import { authorityJson, certificateAuthority } from './certificate-rules.js';

export const listCertificateAuthorities: Operation = {
  name: 'ListCertificateAuthorities',
  namespace: 'HsmKms',
  async run(deps, ctx) {
    const ca = certificateAuthority(deps);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListCertificateAuthorities', context: {} });
    return { CertificateAuthorities: (await ca.list()).map(authorityJson) };
  },
};
