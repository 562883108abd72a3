/**
 * What the service does on its own (the scheduler's deletions and rotations, multi-Region
 * transfers finished in the background), recorded in the audit trail as CloudTrail records KMS's
 * own work: an `AwsServiceEvent` whose `userIdentity` is the service (`invokedBy`
 * `kms.amazonaws.com`).
 */
import { randomUUID } from 'node:crypto';
import { KmsError } from './errors.js';
import type { KmsDeps } from './operation.js';
import type { AuditActor, Logger } from './ports.js';

/** The service itself, as CloudTrail names KMS's own work. */
const SERVICE: AuditActor = { type: 'AWSService', invokedBy: 'kms.amazonaws.com' };

/** One piece of the service's own work, done or failed. */
export interface ServiceEvent {
  eventName: string;
  resources: string[];
  additionalEventData?: Record<string, unknown>;
  errorCode?: string;
  errorMessage?: string | undefined;
}

/**
 * Records what the service did. Unlike an API call there is nobody to withhold a result from:
 * a record that cannot be written is logged as an error (the work itself is done).
 */
export async function auditServiceEvent(deps: Pick<KmsDeps, 'audit' | 'clock'>, logger: Logger, event: ServiceEvent): Promise<void> {
  try {
    await deps.audit.record({
      eventTime: deps.clock.now(),
      requestId: randomUUID(),
      principalArn: SERVICE.invokedBy,
      userAgent: 'hsmkms-scheduler',
      actor: SERVICE,
      ...event,
    });
  } catch (error) {
    logger.error({ eventName: event.eventName, resources: event.resources, err: describeError(error) }, 'scheduled work done but its audit record not written');
  }
}

/** Log-safe error summary: KMS and HSM errors carry no secrets; never log the stack's data. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof KmsError) return { type: error.type, message: error.message };
  if (error instanceof Error) {
    const { code, fn } = error as Error & { code?: unknown; fn?: unknown };
    return { name: error.name, message: error.message, code, fn };
  }
  return { value: String(error) };
}
