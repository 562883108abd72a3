/**
 * An in-memory {@link AuditSink} for tests and embedding. Events go through the same
 * format-and-parse round trip as the file, so what a test sees is exactly what the file would
 * hold (secrets already dropped).
 */
import type { AuditEvent, AuditSink } from '../core/ports.js';
import { formatAuditRecord, parseAuditRecord } from './audit-record.js';

export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];

  record(event: AuditEvent): void {
    this.events.push(parseAuditRecord(formatAuditRecord(event)));
  }

  /** The events of one request, in order. */
  forRequest(requestId: string): AuditEvent[] {
    return this.events.filter((e) => e.requestId === requestId);
  }
}
