import { lazy } from 'react';
import { mayEver } from '../../session/session.js';
import type { ConsolePage } from '../registry.js';

/** Everyone may read key stores (CryptoUsers where a policy allows); CryptoOfficers manage them. */
export const keyStoresPage: ConsolePage = {
  path: 'key-stores',
  nav: 'Key stores',
  visible: (identity) => mayEver(identity, 'kms:DescribeCustomKeyStores'),
  hiddenReason: 'Custom key stores are read by CryptoOfficers, Auditors and CryptoUsers a policy allows; your role has no access to them.',
  component: lazy(() => import('./key-stores-page.js')),
};
