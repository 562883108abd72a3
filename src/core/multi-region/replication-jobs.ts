/**
 * Work a multi-Region key's deployment owes to other regions (model.ts ReplicationJobKind), kept
 * in the store until it is done: the request that asks for it tries it at once and answers within
 * {@link FAST_PATH_MS} either way (AWS's `Creating` replica, `Updating` key); what is left — a
 * region that cannot be reached — the scheduler retries with backoff. A job is taken by one runner
 * at a time (claimed by lease), and a job asked for again while it ran is kept (store generations;
 * see MultiRegionRepository). A job that fails for good (the peer refuses: AccessDenied, a policy
 * it rejects, …) is given up: what waited on it is undone, and that is logged and audited.
 */
import { KmsError, type KmsErrorName } from '../errors.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import { addDays, updateKeyRecord } from '../operations/key-updates.js';
import type { Logger, MetadataRepository } from '../ports.js';
import { auditServiceEvent, describeError } from '../service-events.js';
import { activeOtherRegions, isPrimaryHere, otherRegions, type MultiRegionKeyRecord, type ReplicationJob, type ReplicationJobKind } from './model.js';
import { callPeer, leaveSet, syncOrRetryLater, syncRegion, unboundPeerError, updateRegionSet } from './peer-calls.js';
import { deliverNewVersion, shareWithReplicas } from './shared-settings.js';
import { PeerError, type ReplicationJobId } from './ports.js';
import { sendReplica, type ReplicaOptions } from './send-replica.js';

/** Jobs run per scheduler pass. */
const JOBS_PER_PASS = 50;
/** How long a claimed job is left to its runner before another may take it, unless the runner renews it. */
export const LEASE_MS = 5 * 60_000;
/** How often a run renews its lease (a third of it: two renewals may be missed before it ends). */
export const LEASE_RENEWAL_MS = LEASE_MS / 3;
/** How long a request waits for the work it asked for before it answers that the work is under way. */
export const FAST_PATH_MS = 2_000;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 3_600_000;

/** Backoff after the n-th failed attempt: `firstMs` (30 s unless configured) doubling, at most 1 hour. */
export function retryDelayMs(attempts: number, firstMs = FIRST_RETRY_MS): number {
  return Math.min(firstMs * 2 ** Math.min(attempts - 1, 20), MAX_RETRY_MS);
}

/**
 * Refusals the same attempt would meet again, from the peer or from this deployment: the job is
 * given up rather than retried. Anything else (unreachable, throttled, 5xx, an HSM hiccup) is retried.
 */
const PERMANENT: readonly KmsErrorName[] = [
  'AccessDeniedException',
  'AlreadyExistsException',
  'DisabledException',
  'IncorrectKeyMaterialException',
  'KMSInvalidStateException',
  'MalformedPolicyDocumentException',
  'NotFoundException',
  'TagException',
  'UnsupportedOperationException',
  'ValidationException',
];

function isPermanent(error: unknown): error is KmsError {
  return error instanceof KmsError && PERMANENT.includes(error.type);
}

/** Not a failure: the job waits for something outside this deployment (replicas being deleted). */
class NotYet extends Error {}

/** What running a job came to (undefined from {@link tryJobNow}: still running, or another runner has it). */
export type JobOutcome = { status: 'done' } | { status: 'retry'; error: unknown } | { status: 'given-up'; error: KmsError };

/** One kind of job. */
interface JobWork {
  /** The audit event of the work, when it ends (done or given up). */
  eventName: string;
  /** Does it; what to audit, or undefined when there was nothing (left) to do. Throws to retry or give up. */
  run(deps: KmsDeps, job: ReplicationJob): Promise<Record<string, unknown> | undefined>;
  /** Undoes what waited on a job given up. */
  giveUp(deps: KmsDeps, job: ReplicationJob): Promise<void>;
}

async function current(deps: KmsDeps, keyId: string): Promise<[KeyRecord | undefined, MultiRegionKeyRecord | undefined]> {
  return Promise.all([deps.store.getKey(keyId), deps.store.multiRegion.getMultiRegionKey(keyId)]);
}

/** The change in flight (a `promote` or `rotate` job) is over: the key is no longer `Updating`. */
const endUpdating = (deps: KmsDeps, keyId: string) => updateRegionSet(deps, keyId, (c) => (c.updating ? { ...c, updating: false } : undefined));

const stateIn = (record: MultiRegionKeyRecord, region: string) => record.regions.find((r) => r.region === region)?.state;

const WORK: Record<ReplicationJobKind, JobWork> = {
  sync: {
    eventName: 'SyncMultiRegionKey',
    async run(deps, job) {
      const [key, record] = await current(deps, job.keyId);
      // Only the primary's deployment tells; a key deleted here has nothing to say.
      if (!key || !record || stateIn(record, job.region) !== 'Active') return undefined;
      if (!isPrimaryHere(record, deps.settings)) return handOver(deps, job.region, record);
      try {
        await syncRegion(deps, job.region, record, key);
      } catch (error) {
        if (!(error instanceof KmsError && error.type === 'NotFoundException')) throw error;
        // The replica is gone from that region: it leaves the set.
        await leaveSet(deps, job.keyId, job.region);
      }
      return undefined;
    },
    async giveUp() {},
  },

  replicate: {
    eventName: 'ReplicateKey',
    async run(deps, job) {
      const [key, record] = await current(deps, job.keyId);
      if (!key || !record || !isPrimaryHere(record, deps.settings) || stateIn(record, job.region) !== 'Creating') return undefined;
      if (key.keyState === 'PendingDeletion' || key.keyState === 'PendingReplicaDeletion')
        throw new KmsError('KMSInvalidStateException', `${key.arn} was scheduled for deletion before its replica in ${job.region} was made.`);
      try {
        await sendReplica(deps, job.region, key, record, JSON.parse(job.payload) as ReplicaOptions);
      } catch (error) {
        if (!(error instanceof KmsError && error.type === 'AlreadyExistsException')) throw error;
        // An earlier attempt made it and its answer was lost: the key there must answer as this set's replica.
        await syncRegion(deps, job.region, { ...record, regions: record.regions.map((r) => ({ ...r, state: 'Active' as const })) }, key);
      }
      const updated = await updateRegionSet(deps, key.keyId, (c) => ({ ...c, regions: c.regions.map((r) => (r.region === job.region ? { ...r, state: 'Active' as const } : r)) }));
      for (const other of updated ? activeOtherRegions(updated, deps.settings) : [])
        if (other.region !== job.region) await syncOrRetryLater(deps, other.region, updated!, key);
      return { replicaRegion: job.region };
    },
    async giveUp(deps, job) {
      // Nothing usable was made there (or what was is not this set's): the region leaves the set,
      // and the placeholder it may have recorded (`Creating`) is removed there (an `abandon` job),
      // both in one transaction.
      const abandon = { keyId: job.keyId, region: job.region, kind: 'abandon' as const, payload: { PrimaryRegion: deps.settings.region } };
      if (await deps.store.multiRegion.getMultiRegionKey(job.keyId))
        await changeSetWithJob(deps, job.keyId, (c) => ({ ...c, regions: c.regions.filter((r) => r.region !== job.region) }), abandon);
      else await enqueueJob(deps.store, deps.clock.now(), abandon, abandon.payload);
    },
  },

  abandon: {
    eventName: 'AbandonReplica',
    async run(deps, job) {
      // Replicated there again since: the placeholder (if still there) is the new replica's.
      if ((await deps.store.multiRegion.getMultiRegionKey(job.keyId))?.regions.some((r) => r.region === job.region)) return undefined;
      const { PrimaryRegion } = JSON.parse(job.payload) as { PrimaryRegion: string };
      if (!deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot reach other regions.');
      try {
        const answer = await deps.regionPeers.call(job.region, 'AbandonReplica', { KeyId: job.keyId, PrimaryRegion });
        return answer.Removed === true ? { replicaRegion: job.region } : undefined;
      } catch (error) {
        // A deployment of an older version records no placeholder, and does not know the call.
        if (error instanceof PeerError && error.type === 'UnknownOperationException') return undefined;
        if (error instanceof PeerError && error.unboundPeer) throw unboundPeerError(deps, job.region, error);
        if (!(error instanceof PeerError) || error.retryable) throw error;
        // A refusal for good (AccessDenied, …) ends the job; anything else is tried again.
        const type = (PERMANENT as readonly string[]).includes(error.type) ? (error.type as KmsErrorName) : 'KMSInternalException';
        throw new KmsError(type, `The deployment of ${job.region} answered ${error.type}: ${error.message}`);
      }
    },
    async giveUp() {},
  },

  promote: {
    eventName: 'UpdatePrimaryRegion',
    async run(deps, job) {
      const [key, record] = await current(deps, job.keyId);
      if (!key || !record || !record.updating || !isPrimaryHere(record, deps.settings)) return undefined;
      if (stateIn(record, job.region) !== 'Active') throw new KmsError('NotFoundException', `${key.arn} has no replica key in ${job.region} any more.`);
      try {
        // The new primary takes the automatic rotation schedule with it; this region's key keeps the settings only.
        await syncRegion(deps, job.region, { ...record, primaryRegion: job.region }, key);
      } catch (error) {
        if (error instanceof KmsError && error.type === 'NotFoundException') await leaveSet(deps, job.keyId, job.region);
        throw error;
      }
      const written = await updateRegionSet(deps, key.keyId, (c) => ({ ...c, primaryRegion: job.region, updating: false }));
      const replica = key.nextRotationDate ? await updateKeyRecord(deps, key.keyId, (c) => ({ ...c, nextRotationDate: undefined })) : key;
      for (const other of written ? activeOtherRegions(written, deps.settings) : [])
        if (other.region !== job.region) await syncOrRetryLater(deps, other.region, written!, replica);
      return { primaryRegion: job.region };
    },
    async giveUp(deps, job) {
      await endUpdating(deps, job.keyId);
    },
  },

  rotate: {
    eventName: 'RotateKey',
    async run(deps, job) {
      const [key, record] = await current(deps, job.keyId);
      if (!key || !record || !record.updating || !isPrimaryHere(record, deps.settings)) return undefined;
      const { KeyMaterialId: versionId } = JSON.parse(job.payload) as { KeyMaterialId: string };
      const [version, transfer] = await Promise.all([
        deps.store.getKeyVersion(key.keyId, versionId),
        deps.store.multiRegion.listTransferMaterial(key.keyId).then((all) => all.find((t) => t.versionId === versionId)),
      ]);
      if (!version || !transfer) throw new KmsError('KMSInvalidStateException', `Key material ${versionId} of ${key.arn} is gone; the rotation cannot finish.`);
      // A replica being created gets the versions there are when it is made: wait, so it misses none.
      const creating = otherRegions(record, deps.settings).filter((r) => r.state === 'Creating');
      if (creating.length > 0) throw new NotYet(`${key.arn} waits for its replica in ${creating.map((r) => r.region).join(', ')} to be created before it rotates.`);
      // Every replica region receives it (not current there yet) before the primary uses it.
      await deliverNewVersion(deps, key, record, { version, transfer });
      const rotated = await updateKeyRecord(deps, key.keyId, (c) => ({ ...c, currentVersionId: versionId }));
      await endUpdating(deps, key.keyId);
      // Then the replicas switch to it (or the scheduler tells them later).
      await shareWithReplicas(deps, rotated);
      return { keyMaterialId: versionId };
    },
    async giveUp(deps, job) {
      await endUpdating(deps, job.keyId);
    },
  },

  'replica-deletion': {
    eventName: 'ScheduleKeyDeletion',
    async run(deps, job) {
      const [key, record] = await current(deps, job.keyId);
      // Cancelled (CancelKeyDeletion), or already past this stage.
      if (!key || !record || key.keyState !== 'PendingReplicaDeletion') return undefined;
      const remaining: string[] = [];
      for (const { region, state } of otherRegions(record, deps.settings)) {
        // A replica still being created is given up by its own job (its primary is being deleted).
        if (state === 'Creating') {
          remaining.push(`${region} (being created)`);
          continue;
        }
        try {
          await syncRegion(deps, region, record, key);
          remaining.push(region);
        } catch (error) {
          if (error instanceof KmsError && error.type === 'NotFoundException') await leaveSet(deps, key.keyId, region);
          else remaining.push(`${region} (${error instanceof KmsError ? error.type : 'unreachable'})`);
        }
      }
      if (remaining.length > 0) throw new NotYet(`${key.arn} waits for its replica keys in ${remaining.join(', ')} to be deleted.`);
      const days = key.pendingDeletionWindowInDays ?? 30;
      const updated = await updateKeyRecord(deps, key.keyId, (c) =>
        c.keyState === 'PendingReplicaDeletion' ? { ...c, keyState: 'PendingDeletion', deletionDate: addDays(deps.clock.now(), days) } : c,
      );
      return updated.keyState === 'PendingDeletion' ? { pendingWindowInDays: days, deletionDate: updated.deletionDate?.toISOString() } : undefined;
    },
    async giveUp() {},
  },
};

/**
 * A region that missed a change of primary made here (UpdatePrimaryRegion while it could not be
 * reached) still takes orders only from this deployment, the primary it records: the new primary's
 * deployment is refused there, for good. So this deployment, which made the change, tells it which
 * region holds the primary now; from then on it follows that one. A refusal (AccessDenied: it
 * follows another primary already, the new one told it) ends the job: there is nothing to hand over.
 */
async function handOver(deps: KmsDeps, region: string, record: MultiRegionKeyRecord): Promise<undefined> {
  if (record.primaryRegion === region) return undefined;
  try {
    await callPeer(deps, region, 'SyncMultiRegionKey', {
      KeyId: record.keyId,
      PrimaryRegion: record.primaryRegion,
      Regions: record.regions.filter((r) => r.state === 'Active').map((r) => r.region),
    });
  } catch (error) {
    if (!(error instanceof KmsError && (error.type === 'AccessDeniedException' || error.type === 'NotFoundException'))) throw error;
  }
  return undefined;
}

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => SILENT };

/**
 * Changes this deployment's record of the set and asks for the job that finishes the change, in
 * one transaction, so that no in-between state (a `Creating` region, `updating`) waits without a
 * job to end it. `change` may throw to refuse; it is re-run on a concurrent change.
 */
export async function changeSetWithJob(
  deps: KmsDeps,
  keyId: string,
  change: (current: MultiRegionKeyRecord) => Omit<MultiRegionKeyRecord, 'revision'>,
  job: ReplicationJobId & { payload?: JsonObject },
): Promise<MultiRegionKeyRecord> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const written = await deps.store.transaction(async (tx) => {
      const record = await tx.multiRegion.getMultiRegionKey(keyId);
      if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${keyId} is missing.`);
      const next = { ...change(record), revision: record.revision + 1 };
      if (!(await tx.multiRegion.updateMultiRegionKey(next))) return undefined;
      await enqueueJob(tx, deps.clock.now(), job, job.payload);
      return next;
    });
    if (written) return written;
  }
  throw new KmsError('KMSInternalException', `The multi-Region record of ${keyId} kept changing; try again.`);
}

/** Asks for a job, due `now`: on the store, or inside the transaction that makes it needed. */
export async function enqueueJob(repo: Pick<MetadataRepository, 'multiRegion'>, now: Date, id: ReplicationJobId, payload: JsonObject = {}): Promise<void> {
  await repo.multiRegion.enqueueReplicationJob({ ...id, payload: JSON.stringify(payload) }, now);
}

/**
 * Runs a waiting job now, for the request that asked for it: its outcome if it ends within
 * {@link FAST_PATH_MS}, otherwise undefined (it goes on, and settles itself, in the background;
 * also undefined when another runner has it or it is not due).
 */
export async function tryJobNow(deps: KmsDeps, id: ReplicationJobId): Promise<JobOutcome | undefined> {
  const repo = deps.store.multiRegion;
  const job = await repo.getReplicationJob(id);
  const now = deps.clock.now().getTime();
  // Not due: a runner (the scheduler, another node) holds its lease, or it waits out a backoff.
  // Claiming it anyway would run it twice at once: the claim only compares what was read.
  const held = job && job.nextAttemptAt.getTime() <= now ? await repo.claimReplicationJob(job, new Date(now + LEASE_MS)) : undefined;
  if (!held) return undefined;
  const settled = settleJob(deps, deps.logger ?? SILENT, held);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), FAST_PATH_MS);
    timer.unref();
  });
  try {
    return await Promise.race([settled, waited]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the due jobs (from the scheduler's pass). */
export async function runReplicationJobs(deps: KmsDeps, logger: Logger): Promise<void> {
  const repo = deps.store.multiRegion;
  const now = deps.clock.now();
  for (const job of await repo.listDueReplicationJobs(now, JOBS_PER_PASS)) {
    // A kind this version does not know (a newer node wrote it) is left to the nodes that do.
    if (!WORK[job.kind]) continue;
    const held = await repo.claimReplicationJob(job, new Date(now.getTime() + LEASE_MS));
    if (held) await settleJob(deps, logger, held);
  }
}

/**
 * Renews `held`'s lease every {@link LEASE_RENEWAL_MS} while its run goes on, so that a run longer
 * than a lease (a slow peer, many versions) is not taken and run a second time beside it. `stop`
 * ends the renewals and renews once more to learn whether the run still holds the job: it answers
 * the job with the lease it holds, for writing the outcome (which the store writes only while the
 * job carries that lease), or undefined when another runner has taken it (this run writes nothing).
 */
function keepLease(deps: KmsDeps, logger: Logger, held: ReplicationJob): { stop(): Promise<ReplicationJob | undefined> } {
  const repo = deps.store.multiRegion;
  let current: ReplicationJob | undefined = held;
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    if (!current) return;
    const leaseUntil = new Date(deps.clock.now().getTime() + LEASE_MS);
    try {
      current = (await repo.renewReplicationJobLease(current, leaseUntil)) ? { ...current, leasedUntil: leaseUntil } : undefined;
    } catch (error) {
      // The store did not answer: the next renewal tries again, before the lease ends.
      logger.warn({ keyId: held.keyId, region: held.region, kind: held.kind, err: describeError(error) }, 'multi-Region job lease not renewed');
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, LEASE_RENEWAL_MS);
  timer.unref();
  let stopped: Promise<ReplicationJob | undefined> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await renewing;
        await renew();
        if (!current) logger.warn({ keyId: held.keyId, region: held.region, kind: held.kind }, 'multi-Region job lease lost (another runner has the job); this run records no outcome');
        return current;
      })();
      return stopped;
    },
  };
}

/** Runs a claimed job and records how it ended: done, deferred with backoff, or given up. Never throws. */
async function settleJob(deps: KmsDeps, logger: Logger, held: ReplicationJob): Promise<JobOutcome> {
  const repo = deps.store.multiRegion;
  const work = WORK[held.kind];
  const lease = keepLease(deps, logger, held);
  let job = held;
  const arn = (await deps.store.getKey(job.keyId).catch(() => undefined))?.arn ?? job.keyId;
  try {
    const done = await work.run(deps, job);
    const still = await lease.stop();
    if (!still) return { status: 'retry', error: new Error('lease lost') };
    job = still;
    await repo.completeReplicationJob(job);
    if (done) {
      logger.info({ keyId: job.keyId, region: job.region, kind: job.kind }, 'multi-Region work done');
      await auditServiceEvent(deps, logger, { eventName: work.eventName, resources: [arn], additionalEventData: { region: job.region, ...done } });
    }
    return { status: 'done' };
  } catch (error) {
    try {
      const still = await lease.stop();
      // Another runner has the job: its run records the outcome (and gives up, if it comes to that).
      if (!still) return { status: 'retry', error };
      job = still;
      if (isPermanent(error)) {
        await work.giveUp(deps, job);
        await repo.completeReplicationJob(job);
        logger.error({ keyId: job.keyId, region: job.region, kind: job.kind, err: describeError(error) }, 'multi-Region work refused for good; given up');
        await auditServiceEvent(deps, logger, { eventName: work.eventName, resources: [arn], additionalEventData: { region: job.region }, errorCode: error.type, errorMessage: error.message });
        return { status: 'given-up', error };
      }
      const attempts = job.attempts + 1;
      const message = error instanceof Error ? error.message : String(error);
      const nextAttemptAt = new Date(deps.clock.now().getTime() + retryDelayMs(attempts, deps.settings.replicationRetryMs));
      await repo.deferReplicationJob(job, { attempts, nextAttemptAt, lastError: message.slice(0, 1000) });
      if (error instanceof NotYet) logger.info({ keyId: job.keyId, attempts }, message);
      else logger.warn({ keyId: job.keyId, region: job.region, kind: job.kind, attempts, err: describeError(error) }, 'multi-Region work failed; will retry');
    } catch (storeError) {
      // The lease runs out and another pass takes the job again.
      logger.error({ keyId: job.keyId, region: job.region, kind: job.kind, err: describeError(storeError) }, 'multi-Region job outcome not recorded; it will run again');
    }
    return { status: 'retry', error };
  }
}
