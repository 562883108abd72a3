/**
 * HsmKms.VerifyAuditTrail: `hsmkms audit verify` run by the server over the files holding
 * [From, To] (epoch seconds; default the last 24 hours, at most 31 days), with the audit key's
 * public key from the HSM. Answers per node — records, digests, the last record a signed digest
 * vouches for — and what was found: where a record was changed, removed, reordered or inserted.
 * Bounded (src/audit/reader.ts): a byte limit on the files a range selects, a deadline, one
 * verification at a time per node. For Auditors and CryptoOfficers (`hsmkms:VerifyAuditTrail`).
 */
import { KmsError } from '../errors.js';
import type { Operation } from '../operation.js';
import { epochSeconds } from '../validation.js';
import { auditReader, optionalTime } from './audit-rules.js';

const DEFAULT_RANGE_MS = 24 * 3600_000;
const MAX_RANGE_MS = 31 * 86_400_000;

export const verifyAuditTrail: Operation = {
  name: 'VerifyAuditTrail',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const to = optionalTime(input, 'To') ?? deps.clock.now();
    const from = optionalTime(input, 'From') ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
    if (from > to) throw new KmsError('InvalidTimeRangeException', 'From must not be later than To.');
    if (to.getTime() - from.getTime() > MAX_RANGE_MS)
      throw new KmsError('InvalidTimeRangeException', 'One call verifies at most 31 days; verify longer spans a range at a time, or offline with `hsmkms audit verify`.');
    const reader = auditReader(deps);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:VerifyAuditTrail', context: {} });

    const report = await reader.verify({ from, to });
    return {
      Ok: report.ok,
      From: epochSeconds(from),
      To: epochSeconds(to),
      ...(report.keyFingerprint !== undefined ? { KeyFingerprint: report.keyFingerprint } : {}),
      Nodes: report.nodes.map((n) => ({
        NodeId: n.nodeId,
        Files: n.files,
        Records: n.records,
        Digests: n.digests,
        ...(n.firstSequence !== undefined ? { FirstSequence: n.firstSequence } : {}),
        ...(n.lastSequence !== undefined ? { LastSequence: n.lastSequence } : {}),
        ...(n.firstTime !== undefined ? { FirstTime: epochSeconds(new Date(n.firstTime)) } : {}),
        ...(n.lastTime !== undefined ? { LastTime: epochSeconds(new Date(n.lastTime)) } : {}),
        ...(n.signedThrough !== undefined ? { SignedThrough: n.signedThrough } : {}),
      })),
      Findings: report.findings.map((f) => ({
        Severity: f.severity,
        Kind: f.kind,
        NodeId: f.nodeId,
        ...(f.file !== undefined ? { File: f.file } : {}),
        ...(f.line !== undefined ? { Line: f.line } : {}),
        ...(f.sequence !== undefined ? { Sequence: f.sequence } : {}),
        Message: f.message,
      })),
      FindingsTruncated: report.findingsTruncated,
    };
  },
};
