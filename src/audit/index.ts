/** The audit trail: the record format, a JSON-lines file sink and an in-memory sink. */
export {
  AUDIT_RECORD_VERSION,
  AuditRecordError,
  formatAuditRecord,
  parseAuditRecord,
  toAuditRecord,
  type AuditRecord,
  type AuditResource,
  type AuditUserIdentity,
} from './audit-record.js';
export { openJsonlAuditSink, type JsonlAuditSink, type JsonlAuditSinkOptions } from './jsonl-audit-sink.js';
export { MemoryAuditSink } from './memory-audit-sink.js';
export { SECRET_FIELDS, isSecretField, redactSecrets } from './redact.js';
