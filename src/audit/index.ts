/** The audit trail: the record format, the chained file writer, offline verification and queries, and an in-memory sink. */
export {
  AUDIT_RECORD_VERSION,
  AuditRecordError,
  CALL_EVENT_TYPE,
  SERVICE_EVENT_TYPE,
  DIGEST_EVENT_TYPE,
  GENESIS_HASH,
  formatCallLine,
  lineHash,
  parseCallLine,
  parseLine,
  publicKeyFingerprint,
  toAuditRecord,
  type AuditRecord,
  type AuditResource,
  type AuditUserIdentity,
  type ChainLink,
  type DigestRecord,
  type ParsedLine,
} from './audit-record.js';
export {
  AUDIT_DEFAULTS,
  openChainedAuditSink,
  type AuditFailureMode,
  type AuditSyncMode,
  type ChainedAuditSink,
  type ChainedAuditSinkOptions,
} from './chained-audit-sink.js';
export { listSegments, nodeFileSystem, PUBLIC_KEY_FILE, type AuditFile, type AuditFileSystem } from './audit-files.js';
export { MemoryAuditSink } from './memory-audit-sink.js';
export { auditSignerOf, defaultAuditNodeId } from './node-id.js';
export {
  AuditRangeTooLarge,
  verifyAuditTrail,
  verifyAuditTrailAsync,
  type Finding,
  type FindingKind,
  type NodeSummary,
  type VerifyOptions,
  type VerifyReport,
} from './verify.js';
export {
  lookupAuditEvents,
  lookupAuditEventsAsync,
  tailAuditEvents,
  MAX_LOOKUP_RESULTS,
  type AuditEventFound,
  type AuditQuery,
  type AuditQueryResult,
  type ScanBudget,
  type TailOptions,
} from './query.js';
