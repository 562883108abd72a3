/**
 * Every page of the console, in navigation order. To add a page: write its module (a folder
 * under pages/ whose `page.ts` exports a {@link ConsolePage}, its component loaded lazily) and
 * add it to {@link PAGES}. The navigation, the routes, the "not for your role" answer and the
 * document title all come from here.
 */
import type { ComponentType, LazyExoticComponent } from 'react';
import type { CallerIdentity } from '../api/hsmkms-api.js';
import { approvalsPage } from './approvals/page.js';
import { auditPage } from './audit/page.js';
import { certificatesPage } from './certificates/page.js';
import { keyStoresPage } from './key-stores/page.js';
import { keyDetailPage, keysPage } from './keys/page.js';
import { principalDetailPage, principalsPage } from './principals/page.js';

export interface ConsolePage {
  /** The route below /console, React Router syntax: `keys`, `keys/:keyId`. */
  path: string;
  /** The navigation label; absent for pages reached from another page (a key's detail). */
  nav?: string;
  /**
   * Whether to offer the page to this caller. Only what the server's roles make pointless is
   * hidden: the server still decides every call, and the page shows its AccessDenied.
   */
  visible?: (identity: CallerIdentity) => boolean;
  /** Why the page is not offered, for someone who follows a link to it anyway. */
  hiddenReason?: string;
  component: LazyExoticComponent<ComponentType>;
}

export const PAGES: readonly ConsolePage[] = [keysPage, keyDetailPage, keyStoresPage, certificatesPage, auditPage, principalsPage, principalDetailPage, approvalsPage];
