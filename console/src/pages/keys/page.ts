import { lazy } from 'react';
import type { ConsolePage } from '../registry.js';

export const keysPage: ConsolePage = { path: 'keys', nav: 'Keys', component: lazy(() => import('./keys-page.js')) };
export const keyDetailPage: ConsolePage = { path: 'keys/:keyId', component: lazy(() => import('./key-detail-page.js')) };
