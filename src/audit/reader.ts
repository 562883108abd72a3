/**
 * The audit trail read back by the server ({@link AuditReader}, src/core/audit-reading/port.ts):
 * the same search and verifier as `hsmkms audit search|verify`, over every node's chain in the
 * audit directory, bounded for a service that answers many callers:
 *
 * - a lookup reads at most {@link READER_LIMITS.lookupScanBytes} of files and works at most
 *   {@link READER_LIMITS.lookupMs} before it answers (with a NextToken that resumes where it
 *   stopped), giving the event loop a turn every few milliseconds; at most
 *   {@link READER_LIMITS.concurrentLookups} run at once per process;
 * - a verification reads at most {@link READER_LIMITS.verifyBytes} of files (a longer range is
 *   refused before anything is read), must finish within {@link READER_LIMITS.verifyMs}, and runs
 *   one at a time per process; its findings are capped in the answer.
 *
 * Digest signatures are checked with the audit key's public key read from the HSM, not with the
 * copy beside the trail (which whoever can edit the trail could replace).
 */
import { publicKeyFingerprint } from './audit-record.js';
import { lookupAuditEventsAsync, type AuditEventFound } from './query.js';
import { AuditRangeTooLarge, verifyAuditTrailAsync } from './verify.js';
import type { AuditReader, AuditVerification } from '../core/audit-reading/port.js';
import { KmsError } from '../core/errors.js';

export const READER_LIMITS = {
  lookupScanBytes: 128 * 1024 * 1024,
  lookupMs: 5_000,
  concurrentLookups: 2,
  verifyBytes: 256 * 1024 * 1024,
  verifyMs: 60_000,
  findings: 200,
};

export interface AuditReaderOptions {
  dir: string;
  /** The audit key's SubjectPublicKeyInfo (DER) from the HSM; undefined when the backend cannot sign digests. */
  publicKey: () => Promise<Buffer | undefined>;
  limits?: Partial<typeof READER_LIMITS>;
}

export function createAuditReader(options: AuditReaderOptions): AuditReader {
  const limits = { ...READER_LIMITS, ...options.limits };
  let lookups = 0;
  let verifying = false;
  return {
    async lookup(query) {
      if (lookups >= limits.concurrentLookups) throw busy('LookupAuditEvents');
      lookups++;
      try {
        const result = await lookupAuditEventsAsync(
          options.dir,
          {
            startTime: query.startTime,
            endTime: query.endTime,
            eventName: query.eventName,
            principal: query.principal,
            key: query.key,
            errorCode: query.errorCode,
            eventId: query.eventId,
            maxResults: query.maxResults,
            marker: query.nextToken,
          },
          { maxBytes: limits.lookupScanBytes, deadline: Date.now() + limits.lookupMs },
        ).catch((error: unknown) => {
          if (error instanceof KmsError && error.type === 'InvalidMarkerException')
            throw new KmsError('InvalidNextTokenException', 'The NextToken is not one this service handed out; start the lookup again without it.');
          throw error;
        });
        return { events: result.events.map(view), nextToken: result.nextMarker };
      } finally {
        lookups--;
      }
    },

    async verify(range) {
      if (verifying) throw busy('VerifyAuditTrail');
      verifying = true;
      try {
        const spki = await options.publicKey();
        let report;
        try {
          report = await verifyAuditTrailAsync(
            { dir: options.dir, from: range.from, to: range.to, publicKeys: spki ? [spki] : [], maxBytes: limits.verifyBytes },
            {
              deadline: Date.now() + limits.verifyMs,
              onDeadline: () => new KmsError('LimitExceededException', `Verifying this range took longer than ${limits.verifyMs / 1000} s. Verify a shorter range, or the whole trail offline with \`hsmkms audit verify\`.`),
            },
          );
        } catch (error) {
          if (error instanceof AuditRangeTooLarge)
            throw new KmsError(
              'LimitExceededException',
              `The audit files of this range hold ${mib(error.bytes)} MiB; one call verifies at most ${mib(error.limit)} MiB. Verify a shorter range, or the whole trail offline with \`hsmkms audit verify\`.`,
            );
          throw error;
        }
        const result: AuditVerification = {
          ok: report.ok,
          keyFingerprint: spki ? publicKeyFingerprint(spki) : undefined,
          nodes: report.nodes,
          // Problems first, so a cap never hides one behind notes.
          findings: [...report.findings.filter((f) => f.severity === 'problem'), ...report.findings.filter((f) => f.severity !== 'problem')].slice(0, limits.findings),
          findingsTruncated: report.findings.length > limits.findings,
        };
        return result;
      } finally {
        verifying = false;
      }
    },
  };
}

function view(event: AuditEventFound) {
  return {
    eventId: `${event.nodeId}:${event.sequence}`,
    time: event.time,
    eventName: event.record.eventName,
    principalArn: event.record.userIdentity.arn,
    errorCode: event.record.errorCode,
    resources: event.record.resources.map((r) => r.ARN),
    line: event.line,
  };
}

function busy(operation: string): KmsError {
  return new KmsError('ThrottlingException', `Another ${operation} is running on this node; try again when it has finished.`);
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0);
}
