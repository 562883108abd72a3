/**
 * An in-memory {@link AuditSink} for tests and embedding. Events go through the same
 * format-and-parse round trip as the file (chained like a node's file), so what a test sees is
 * exactly what the file would hold (secrets already dropped, long values cut).
 */
import type { AuditEvent, AuditSink } from '../core/ports.js';
import { formatCallLine, GENESIS_HASH, lineHash, parseCallLine } from './audit-record.js';

export class MemoryAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  /** The lines as the file would hold them. */
  readonly lines: string[] = [];
  private previousHash = GENESIS_HASH;

  record(event: AuditEvent): void {
    const line = formatCallLine(event, { nodeId: 'memory', sequence: this.lines.length + 1, previousHash: this.previousHash });
    this.previousHash = lineHash(line);
    this.lines.push(line);
    this.events.push(parseCallLine(line));
  }

  /** The events of one request, in order. */
  forRequest(requestId: string): AuditEvent[] {
    return this.events.filter((e) => e.requestId === requestId);
  }
}
