/**
 * Reading the audit trail back through the API (`HsmKms.LookupAuditEvents`,
 * `HsmKms.VerifyAuditTrail`), in the core's terms. Implemented by src/audit/reader.ts over the
 * audit directory — every node's chain in it, so several workers' files are read together. Its
 * methods bound their own work (a scan budget, a byte limit, a deadline, one verification at a
 * time) and throw only KmsError.
 */

/** One call record. */
export interface AuditEventView {
  /** `<nodeId>:<sequence>`: unique, and stable as long as the record is. */
  eventId: string;
  time: Date;
  eventName: string;
  principalArn: string;
  errorCode?: string | undefined;
  /** Key (and alias) ARNs the call touched. */
  resources: string[];
  /** The record as stored: one JSON line (CloudTrail's `CloudTrailEvent`). */
  line: string;
}

export interface AuditLookup {
  startTime?: Date | undefined;
  endTime?: Date | undefined;
  eventName?: string | undefined;
  /** An ARN, a user name, or an account id (its root). */
  principal?: string | undefined;
  /** A key id, key ARN or alias. */
  key?: string | undefined;
  errorCode?: string | undefined;
  eventId?: { nodeId: string; sequence: number } | undefined;
  /** 1–50. */
  maxResults: number;
  nextToken?: string | undefined;
}

export interface AuditNodeStatus {
  nodeId: string;
  files: number;
  records: number;
  digests: number;
  firstSequence?: number | undefined;
  lastSequence?: number | undefined;
  firstTime?: string | undefined;
  lastTime?: string | undefined;
  /** The last record a valid, signed digest vouches for. */
  signedThrough?: number | undefined;
}

export interface AuditFindingView {
  severity: 'problem' | 'note';
  kind: string;
  nodeId: string;
  file?: string | undefined;
  line?: number | undefined;
  sequence?: number | undefined;
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  /** SHA-256 of the audit key the digests were checked with (from the HSM). */
  keyFingerprint?: string | undefined;
  nodes: AuditNodeStatus[];
  findings: AuditFindingView[];
  /** More findings than are shown. */
  findingsTruncated: boolean;
}

export interface AuditReader {
  /** A page of events, newest first; a short (even empty) page may still have a `nextToken`. */
  lookup(query: AuditLookup): Promise<{ events: AuditEventView[]; nextToken?: string | undefined }>;
  /** Checks every node's chain and digest signatures over the files holding [from, to]. */
  verify(range: { from: Date; to: Date }): Promise<AuditVerification>;
}
