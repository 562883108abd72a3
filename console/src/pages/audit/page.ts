import { lazy } from 'react';
import { mayEver } from '../../session/session.js';
import type { ConsolePage } from '../registry.js';

/** The audit trail is read by Auditors and CryptoOfficers (the role table's `audit read`). */
export const auditPage: ConsolePage = {
  path: 'audit',
  nav: 'Audit',
  visible: (identity) => mayEver(identity, 'hsmkms:LookupAuditEvents'),
  hiddenReason: 'The audit trail is read by Auditors and CryptoOfficers; your role has no access to it.',
  component: lazy(() => import('./audit-page.js')),
};
