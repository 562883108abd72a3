/**
 * Key material rotation, shared by RotateKeyOnDemand, EnableKeyRotation and the scheduler's
 * automatic rotations. A rotation adds a KeyMaterialVersion and makes it current; old versions
 * stay, so ciphertexts that name them keep decrypting. A multi-Region primary with replicas makes
 * it current only once every replica region has it (the key is `Updating` meanwhile).
 */
import { KmsError } from '../errors.js';
import { requireEnabled } from '../key-resolver.js';
import type { KeyMaterialVersion, KeyRecord, RotationType } from '../model.js';
import type { KmsDeps } from '../operation.js';
import { addDays, newKeyMaterialId, updateKeyRecord } from './key-updates.js';
import { otherRegions } from '../multi-region/model.js';
import { enqueueJob, tryJobNow } from '../multi-region/replication-jobs.js';
import { requirePrimaryForRotation, shareWithReplicas } from '../multi-region/shared-settings.js';
import { replicaTransportOf } from '../multi-region/transport.js';

/** AWS's fixed quota of on-demand rotations per key. */
export const MAX_ON_DEMAND_ROTATIONS = 25;

/** Refuses an on-demand rotation once the key has had {@link MAX_ON_DEMAND_ROTATIONS} (`onDemand` so far). */
export function requireOnDemandRotationLeft(key: KeyRecord, onDemand: number): void {
  if (onDemand >= MAX_ON_DEMAND_ROTATIONS)
    throw new KmsError('LimitExceededException', `${key.arn} has reached the limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations.`);
}
export const DEFAULT_ROTATION_PERIOD_DAYS = 365;

/** Only symmetric encryption keys whose material the service generated rotate (as in AWS). */
export function supportsRotation(key: Pick<KeyRecord, 'keySpec' | 'origin'>): boolean {
  return key.keySpec === 'SYMMETRIC_DEFAULT' && key.origin === 'AWS_KMS';
}

export function requireRotatable(key: KeyRecord): void {
  if (!supportsRotation(key))
    throw new KmsError(
      'UnsupportedOperationException',
      `${key.arn} cannot be rotated: rotation is supported only for symmetric encryption keys with AWS_KMS origin (this key is ${key.keySpec}, origin ${key.origin}).`,
    );
}

/**
 * When automatic rotation next runs after it is (re)configured with `periodDays`: a full
 * period from now when newly enabled; for a new period on an enabled key, a period from the
 * last scheduled rotation, but never in the past.
 */
export function nextRotationAfterConfigure(key: KeyRecord, periodDays: number, now: Date): Date {
  if (!key.rotationEnabled || !key.nextRotationDate || key.rotationPeriodInDays === undefined) return addDays(now, periodDays);
  const lastScheduled = addDays(key.nextRotationDate, -key.rotationPeriodInDays);
  const next = addDays(lastScheduled, periodDays);
  return next.getTime() < now.getTime() ? now : next;
}

/** The next automatic rotation after one that was due at `due`; a long-overdue key does not rotate repeatedly to catch up. */
export function nextRotationAfterRun(due: Date, periodDays: number, now: Date): Date {
  const next = addDays(due, periodDays);
  return next.getTime() > now.getTime() ? next : addDays(now, periodDays);
}

/** The scheduled rotation asked for has happened already (another node, or an earlier attempt). */
export class RotationNoLongerDue extends Error {}

/**
 * Generates new material in the HSM, then in one transaction adds the version, makes it
 * current and (for automatic rotations) moves the schedule on. The transaction re-validates the
 * key, so a key disabled or scheduled for deletion meanwhile is not rotated; with `due` (the
 * scheduler's), it rotates only if the key's next rotation date is still that one, and throws
 * {@link RotationNoLongerDue} otherwise — so one due rotation never happens twice.
 */
export async function rotateKeyMaterial(deps: KmsDeps, key: KeyRecord, rotationType: RotationType, options: { due?: Date } = {}): Promise<KeyRecord> {
  // A multi-Region primary with replicas stages the new version and is `Updating` until every replica
  // region has it (a `rotate` replication job, multi-region/replication-jobs.ts); then it becomes current.
  const multiRegion = await requirePrimaryForRotation(deps, key);
  if (multiRegion?.updating) throw new KmsError('KMSInvalidStateException', `${key.arn} is Updating (a rotation or a primary Region change is in flight); try again once it is done.`);
  const transport = multiRegion ? replicaTransportOf(deps.backend) : undefined;
  const replicable = transport ? await transport.generateReplicableMaterial(key.keySpec, key.keyUsage) : undefined;
  const material = replicable ?? (await deps.backend.generateKeyMaterial(key.keySpec));
  const now = deps.clock.now();
  const version: KeyMaterialVersion = {
    keyId: key.keyId,
    versionId: newKeyMaterialId(),
    createdAt: now,
    wrappedMaterial: material.wrapped,
    publicKey: material.publicKey,
    rotationType,
  };
  const transfer = replicable && { keyId: key.keyId, versionId: version.versionId, transferWrapped: replicable.transferWrapped };
  const staged = multiRegion !== undefined && transfer !== undefined && otherRegions(multiRegion, deps.settings).length > 0;
  const job = { keyId: key.keyId, region: deps.settings.region, kind: 'rotate' as const };
  const rotated = await updateKeyRecord(deps, key.keyId, async (current, tx) => {
    if (options.due && current.nextRotationDate?.getTime() !== options.due.getTime()) throw new RotationNoLongerDue();
    requireRotatable(current);
    requireEnabled(current);
    if (rotationType === 'ON_DEMAND')
      requireOnDemandRotationLeft(current, (await tx.listKeyVersions(current.keyId)).filter((v) => v.rotationType === 'ON_DEMAND').length);
    await tx.insertKeyVersion(version);
    if (transfer) await tx.multiRegion.insertTransferMaterial(transfer);
    const next: KeyRecord = staged ? { ...current } : { ...current, currentVersionId: version.versionId };
    if (staged) {
      const record = await tx.multiRegion.getMultiRegionKey(current.keyId);
      if (!record || record.updating || !(await tx.multiRegion.updateMultiRegionKey({ ...record, updating: true, revision: record.revision + 1 })))
        throw new KmsError('KMSInvalidStateException', `${current.arn} is Updating (a rotation or a primary Region change is in flight); try again once it is done.`);
      await enqueueJob(tx, now, job, { KeyMaterialId: version.versionId });
    }
    if (rotationType === 'AUTOMATIC' && current.nextRotationDate && current.rotationPeriodInDays !== undefined)
      next.nextRotationDate = nextRotationAfterRun(current.nextRotationDate, current.rotationPeriodInDays, now);
    return next;
  });
  if (staged) {
    await tryJobNow(deps, job);
    return (await deps.store.getKey(key.keyId)) ?? rotated;
  }
  if (multiRegion) await shareWithReplicas(deps, rotated);
  return rotated;
}
