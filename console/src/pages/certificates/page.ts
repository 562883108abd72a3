import { lazy } from 'react';
import { mayEver } from '../../session/session.js';
import type { ConsolePage } from '../registry.js';

/**
 * Every role may list the CAs; listing a CA's certificates, issuing and revoking are decided by
 * the CA's KMS keys (DescribeKey, Sign), so the server answers each call.
 */
export const certificatesPage: ConsolePage = {
  path: 'certificates',
  nav: 'Certificates',
  visible: (identity) => mayEver(identity, 'hsmkms:ListCertificateAuthorities'),
  hiddenReason: 'Your role may not read the private CA.',
  component: lazy(() => import('./certificates-page.js')),
};
