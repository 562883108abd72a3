import { lazy } from 'react';
import type { CallerIdentity } from '../../api/hsmkms-api.js';
import { hasRole } from '../../session/session.js';
import type { ConsolePage } from '../registry.js';

/** CryptoOfficers manage principals; Auditors may read them (the server's role table). */
const mayReadPrincipals = (identity: CallerIdentity) => hasRole(identity, 'CryptoOfficer') || hasRole(identity, 'Auditor');
const hiddenReason = 'Principals and roles are managed by CryptoOfficers (and readable by Auditors); your role has no access to them.';

export const principalsPage: ConsolePage = {
  path: 'principals',
  nav: 'Principals',
  visible: mayReadPrincipals,
  hiddenReason,
  component: lazy(() => import('./principals-page.js')),
};
export const principalDetailPage: ConsolePage = {
  path: 'principals/:userName',
  visible: mayReadPrincipals,
  hiddenReason,
  component: lazy(() => import('./principal-detail-page.js')),
};
