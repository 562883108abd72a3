import { lazy } from 'react';
import type { ConsolePage } from '../registry.js';

export const approvalsPage: ConsolePage = { path: 'approvals', nav: 'Approvals', component: lazy(() => import('./approvals-page.js')) };
