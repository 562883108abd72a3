/**
 * The background work that time makes due: destroying keys whose deletion waiting period has
 * passed, automatic key rotations, expiring imported key material whose ValidTo has passed,
 * dropping expired import tokens and quorum approval requests, and destroying token objects no
 * key references (material-destruction.ts). Time comes from
 * `deps.clock`, so tests drive it with `runOnce()` and a test clock instead of sleeping.
 *
 * Each deletion, rotation, material expiry and approval clean-up (and each failed attempt) goes
 * into the audit trail as CloudTrail records KMS's own work: an `AwsServiceEvent` whose
 * `userIdentity` is the service (`invokedBy` `kms.amazonaws.com`), named `DeleteKey`,
 * `RotateKey`, `DeleteExpiredKeyMaterial` or `DeleteExpiredApprovalRequests`.
 *
 * Exactly once across nodes: a pass runs only on the node holding the {@link LeaderLease} (on
 * PostgreSQL an advisory lock: when its node dies, the next node to look takes it), which is
 * checked again before each job. Each job identifies itself by what made it due — a key's
 * deletion date, its imported material's ValidTo, its next rotation date — and re-checks that
 * inside the transaction that does it, so a job that another node (or an earlier attempt cut
 * short) already did finds nothing to do.
 */
import { KmsError } from './errors.js';
import { destroyKeyStoreMaterial, locateKey } from './key-stores/keys.js';
import { isCustomKeyStoreOrigin } from './key-stores/model.js';
import { materialId } from './key-metadata.js';
import { destroyRecorded, recordDestructions, runDueDestructions } from './material-destruction.js';
import type { KeyMaterialVersion, KeyRecord, MaterialDestruction } from './model.js';
import type { KmsDeps } from './operation.js';
import { expiredMaterials, importedMaterialsOf, removeImportedMaterials } from './operations/imported-materials.js';
import { updateKeyRecord } from './operations/key-updates.js';
import { RotationNoLongerDue, rotateKeyMaterial } from './operations/rotation.js';
import { retryDelayMs, runReplicationJobs } from './multi-region/replication-jobs.js';
import type { KeyListPosition, Logger } from './ports.js';
import { auditServiceEvent, describeError as describe } from './service-events.js';
import { soleLeader, type LeaderLease } from './leader-lease.js';

/** Keys examined per store query, and queries per run at most. */
const BATCH = 500;
const MAX_BATCHES = 20;
/** Keys with failed work remembered at most (AWS KMS's default quota of keys per Region). */
const MAX_BACKED_OFF = 100_000;

/**
 * Keys whose due work failed, and when to try each again: the first retry after `firstMs`, then
 * doubling to once an hour (as replication jobs), so keys whose work keeps failing (rotations
 * during an HSM outage, deletions in a disconnected key store) neither take a pass's time nor add
 * a failure record to the audit trail on every pass. In memory: a node that takes the lease over
 * tries each once more. Bounded: the oldest entry goes first when it is full.
 */
class KeyBackoff {
  private readonly keys = new Map<string, { failures: number; nextAttempt: number }>();

  constructor(private readonly firstMs: number) {}

  /** Still waiting; a wait longer than the delay set means the clock was set back: not waiting. */
  waiting(keyId: string, now: Date): boolean {
    const entry = this.keys.get(keyId);
    if (entry === undefined) return false;
    const left = entry.nextAttempt - now.getTime();
    return left > 0 && left <= retryDelayMs(entry.failures, this.firstMs);
  }

  failed(keyId: string, now: Date): void {
    const failures = (this.keys.get(keyId)?.failures ?? 0) + 1;
    this.keys.delete(keyId);
    if (this.keys.size >= MAX_BACKED_OFF) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(keyId, { failures, nextAttempt: now.getTime() + retryDelayMs(failures, this.firstMs) });
  }

  succeeded(keyId: string): void {
    this.keys.delete(keyId);
  }
}

export interface Scheduler {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
  /** Runs one pass now (after any pass in progress). */
  runOnce(): Promise<void>;
}

/**
 * Starts running a pass every `intervalMs` (default one minute). Passes never overlap; an
 * error in one key is logged and does not stop the others.
 */
export function startScheduler(
  deps: KmsDeps,
  logger: Logger,
  options: { intervalMs?: number; lease?: LeaderLease; /** Keys per store query (default 500). */ batchSize?: number; /** Queries per pass at most (default 20). */ maxBatches?: number } = {},
): Scheduler {
  const intervalMs = options.intervalMs ?? 60_000;
  const lease = options.lease ?? soleLeader;
  const limits = { batchSize: options.batchSize ?? BATCH, maxBatches: options.maxBatches ?? MAX_BATCHES };
  const backoff = new KeyBackoff(Math.min(30_000, intervalMs));
  let tail: Promise<void> = Promise.resolve();
  let stopped = false;
  // Where the last pass stopped for want of time, if it did: the next one goes on from there, so
  // more keys whose work keeps failing than one pass examines cannot keep the keys behind them waiting.
  let resumeAfter: KeyListPosition | undefined;

  const runOnce = (): Promise<void> => {
    const run = tail.then(async () => {
      if (stopped || !(await lease.acquire())) return;
      resumeAfter = await runPass(deps, logger, lease, limits, backoff, resumeAfter);
    });
    tail = run.catch(() => undefined);
    return run;
  };

  const timer = setInterval(() => {
    if (stopped) return;
    runOnce().catch((error: unknown) => logger.error({ err: describe(error) }, 'scheduler pass failed'));
  }, intervalMs);
  // The scheduler alone must not keep the process alive.
  timer.unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await tail;
      await lease.release();
    },
  };
}

/**
 * One pass, starting after `from` when the pass before ran out of batches; returns where the
 * next pass should start (undefined: from the first due key).
 */
async function runPass(
  deps: KmsDeps,
  logger: Logger,
  lease: LeaderLease,
  limits: { batchSize: number; maxBatches: number },
  backoff: KeyBackoff,
  from: KeyListPosition | undefined,
): Promise<KeyListPosition | undefined> {
  // Each batch starts after the last key of the one before, so no key comes twice in a pass, and
  // keys whose work keeps failing (and so stay due) cannot keep the keys behind them waiting.
  let after = from;
  let resume: KeyListPosition | undefined;
  for (let batch = 0; ; batch++) {
    if (batch === limits.maxBatches) {
      resume = after;
      break;
    }
    const now = deps.clock.now();
    const due = await deps.store.listKeysDue(now, limits.batchSize, after);
    const last = due.at(-1);
    if (last) after = { creationDate: last.creationDate, keyId: last.keyId };
    for (const key of due) {
      if (backoff.waiting(key.keyId, now)) continue;
      // Lost the lease (its connection died): stop; the node that takes it over goes on.
      if (!(await lease.stillHeld())) {
        logger.warn({}, 'scheduler lease lost; leaving the rest of this pass to the node that holds it');
        return undefined;
      }
      try {
        await handleDueKey(deps, logger, key, now);
        backoff.succeeded(key.keyId);
      } catch (error) {
        backoff.failed(key.keyId, deps.clock.now());
        logger.warn({ keyId: key.keyId, err: describe(error) }, 'scheduled key maintenance failed; will retry');
      }
    }
    if (due.length < limits.batchSize) break;
  }
  const expiredTokens = await deps.store.deleteExpiredImportTokens(deps.clock.now());
  if (expiredTokens > 0) logger.info({ count: expiredTokens }, 'expired import tokens removed');
  const expiredApprovals = await deps.store.deleteApprovalRequestsExpiredBefore(deps.clock.now());
  if (expiredApprovals > 0) {
    logger.info({ count: expiredApprovals }, 'expired quorum approval requests removed');
    await auditServiceEvent(deps, logger, { eventName: 'DeleteExpiredApprovalRequests', resources: [], additionalEventData: { count: expiredApprovals } });
  }
  await runReplicationJobs(deps, logger);
  // Token objects whose destruction failed before, or whose CreateKey did not land.
  await runDueDestructions(deps, logger);
  return resume;
}

/** One piece of due work on a key: its audit event name and what doing it takes (undefined: nothing was due after all). */
interface DueWork {
  eventName: 'DeleteKey' | 'DeleteExpiredKeyMaterial' | 'RotateKey';
  run(): Promise<Record<string, unknown> | undefined>;
}

async function handleDueKey(deps: KmsDeps, logger: Logger, key: KeyRecord, now: Date): Promise<void> {
  const work = dueWork(deps, logger, key, now);
  if (!work) return;
  let additionalEventData: Record<string, unknown> | undefined;
  try {
    additionalEventData = await work.run();
  } catch (error) {
    const errorCode = error instanceof KmsError ? error.type : 'KMSInternalException';
    await auditServiceEvent(deps, logger, { eventName: work.eventName, resources: [key.arn], errorCode, errorMessage: describe(error).message as string | undefined });
    throw error;
  }
  if (additionalEventData) await auditServiceEvent(deps, logger, { eventName: work.eventName, resources: [key.arn], additionalEventData });
}

function dueWork(deps: KmsDeps, logger: Logger, key: KeyRecord, now: Date): DueWork | undefined {
  if (isDeletionDue(key, now))
    return {
      eventName: 'DeleteKey',
      async run() {
        const location = isCustomKeyStoreOrigin(key.origin) ? await locateKey(deps, key) : undefined;
        const { versions, destructions } = await destroyKey(deps, key.keyId, now);
        // CancelKeyDeletion won the race: nothing was deleted.
        if (versions.length === 0) return undefined;
        // Token objects go after the records: a CancelKeyDeletion that won the race keeps both.
        if (location) await destroyKeyStoreMaterial(deps, key, location.store, versions, logger);
        else await destroyRecorded(deps, logger, destructions);
        logger.info({ keyId: key.keyId }, 'key deleted after its waiting period');
        return { keyMaterialIds: versions.map((v) => v.versionId) };
      },
    };
  // An imported key is listed for its own ValidTo or for a material pending rotation past its
  // ValidTo (which the key's leaves out); expireImportedMaterial reads the materials and decides.
  if (key.origin === 'EXTERNAL')
    return {
      eventName: 'DeleteExpiredKeyMaterial',
      async run() {
        const removed = await expireImportedMaterial(deps, key.keyId, now);
        if (removed === undefined) return undefined;
        logger.info({ keyId: key.keyId }, 'imported key material expired');
        return { keyMaterialIds: removed };
      },
    };
  // A disabled key is not rotated; it rotates once re-enabled, as in AWS.
  const due = key.nextRotationDate;
  if (key.keyState === 'Enabled' && key.rotationEnabled && due && due <= now)
    return {
      eventName: 'RotateKey',
      async run() {
        let rotated: KeyRecord;
        try {
          rotated = await rotateKeyMaterial(deps, key, 'AUTOMATIC', { due });
        } catch (error) {
          // Another node (or an earlier attempt cut short) did it: nothing was due after all.
          if (error instanceof RotationNoLongerDue) return undefined;
          throw error;
        }
        logger.info({ keyId: key.keyId, keyMaterialId: rotated.currentVersionId }, 'key rotated automatically');
        return { rotationType: 'AUTOMATIC', keyMaterialId: rotated.currentVersionId };
      },
    };
  return undefined;
}

function isDeletionDue(key: KeyRecord, now: Date): boolean {
  return key.keyState === 'PendingDeletion' && key.deletionDate !== undefined && key.deletionDate <= now;
}

/**
 * Removes the key and everything hanging off it in one transaction, re-checking that its
 * deletion is still due (CancelKeyDeletion may have won the race), then drops cached handles.
 * Material of the default store that is a token object of its own (EdDSA keys) has its
 * destruction recorded in the same transaction (material-destruction.ts), so that a destruction
 * that fails after the commit is tried again rather than leaving the private key in the HSM.
 */
async function destroyKey(deps: KmsDeps, keyId: string, now: Date): Promise<{ versions: KeyMaterialVersion[]; destructions: MaterialDestruction[] }> {
  const deleted = await deps.store.transaction(async (tx) => {
    const current = await tx.getKey(keyId);
    if (!current || !isDeletionDue(current, now)) return { versions: [], destructions: [] };
    const versions = await tx.listKeyVersions(keyId);
    await tx.deleteKey(keyId);
    const destructions = isCustomKeyStoreOrigin(current.origin) ? [] : await recordDestructions(deps, tx, current, versions, now);
    return { versions, destructions };
  });
  for (const v of deleted.versions) deps.backend.forget(materialId(keyId, v.versionId));
  return deleted;
}

/**
 * Imported material past its ValidTo is deleted (imported-materials.ts: a permanently associated
 * one makes the key wait for its reimport). Returns the versions removed, undefined when no longer due.
 */
async function expireImportedMaterial(deps: KmsDeps, keyId: string, now: Date): Promise<string[] | undefined> {
  let removed: string[] = [];
  try {
    await updateKeyRecord(deps, keyId, async (current, tx) => {
      if (current.origin !== 'EXTERNAL') throw new NotDue();
      removed = expiredMaterials(await importedMaterialsOf(tx, current), now).map((m) => m.versionId);
      if (removed.length === 0) throw new NotDue();
      // currentVersionId stays: it records which material the key had, so only that same
      // material is accepted on re-import and earlier ciphertexts decrypt again.
      return removeImportedMaterials(tx, current, new Set(removed));
    });
  } catch (error) {
    if (error instanceof NotDue) return undefined;
    throw error;
  }
  for (const versionId of removed) deps.backend.forget(materialId(keyId, versionId));
  return removed;
}

class NotDue extends Error {}

