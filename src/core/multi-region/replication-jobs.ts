/**
 * Retries of what a primary's deployment tells its replica regions after a change (the
 * `sync` replication job): a region that could not be reached is told again by the scheduler,
 * with backoff, until it answers. A job is taken by one runner at a time (claimed by lease), and a
 * job asked for again while it ran is kept (store generations; see MultiRegionRepository).
 */
import type { Logger } from '../ports.js';
import type { KmsDeps } from '../operation.js';
import { KmsError } from '../errors.js';
import { leaveSet, syncRegion } from './peer-calls.js';
import { isPrimaryHere } from './model.js';

/** Jobs run per scheduler pass. */
const JOBS_PER_PASS = 50;
/** How long a claimed job is left to its runner before another may take it. */
const LEASE_MS = 5 * 60_000;
/** Backoff after the n-th failed attempt: 30 s doubling, at most 1 hour. */
export function retryDelayMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.min(attempts - 1, 10), 3_600_000);
}

/** Asks for `region` to be told the key's shared settings again later. */
export async function enqueueSync(deps: KmsDeps, keyId: string, region: string): Promise<void> {
  await deps.store.multiRegion.enqueueReplicationJob({ keyId, region, kind: 'sync', payload: '{}' }, deps.clock.now());
}

/** Runs the due jobs (from the scheduler's pass). */
export async function runReplicationJobs(deps: KmsDeps, logger: Logger): Promise<void> {
  const repo = deps.store.multiRegion;
  const now = deps.clock.now();
  for (const job of await repo.listDueReplicationJobs(now, JOBS_PER_PASS)) {
    if (!(await repo.claimReplicationJob(job, new Date(now.getTime() + LEASE_MS)))) continue;
    try {
      const [key, record] = await Promise.all([deps.store.getKey(job.keyId), repo.getMultiRegionKey(job.keyId)]);
      // Only the primary's deployment tells; a key deleted or no longer primary here has nothing to say.
      if (key && record && isPrimaryHere(record, deps.settings) && record.regions.some((r) => r.region === job.region) && job.kind === 'sync')
        await syncRegion(deps, job.region, record, key);
      await repo.completeReplicationJob(job);
    } catch (error) {
      // The replica is gone from that region: it leaves the set.
      if (error instanceof KmsError && error.type === 'NotFoundException') {
        await leaveSet(deps, job.keyId, job.region);
        await repo.completeReplicationJob(job);
        continue;
      }
      const attempts = job.attempts + 1;
      const message = error instanceof Error ? error.message : String(error);
      await repo.deferReplicationJob(job, { attempts, nextAttemptAt: new Date(now.getTime() + retryDelayMs(attempts)), lastError: message.slice(0, 1000) });
      logger.warn({ keyId: job.keyId, region: job.region, attempts, err: message }, 'multi-Region sync failed; will retry');
    }
  }
}
