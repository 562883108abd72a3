/**
 * Reading the audit trail through the API, one file per operation, registered in src/app.ts;
 * the reading itself is src/audit/reader.ts behind the {@link AuditReader} port.
 */
import type { Operation } from '../operation.js';
import { lookupAuditEvents } from './lookup-audit-events.js';
import { verifyAuditTrail } from './verify-audit-trail.js';

export type { AuditReader } from './port.js';

export const auditReadingOperations: readonly Operation[] = [lookupAuditEvents, verifyAuditTrail];
