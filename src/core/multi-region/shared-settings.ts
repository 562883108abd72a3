/**
 * What the related multi-Region keys share and only the primary changes: key material (rotation)
 * and the rotation settings. Replicas refuse those changes; the primary sends them on.
 */
import { KmsError } from '../errors.js';
import type { KeyRecord } from '../model.js';
import type { KmsDeps } from '../operation.js';
import { activeOtherRegions, isMultiRegionKeyId, isPrimaryHere, type MultiRegionKeyRecord } from './model.js';
import { callPeer, leaveSet, syncOrRetryLater } from './peer-calls.js';
import { replicaTransportOf } from './transport.js';
import { wrapVersionsFor, type TravellingVersion } from './versions.js';

/**
 * For a multi-Region key: its record, after checking that this region holds the primary (a
 * replica's rotation follows its primary's, as in AWS). Undefined for a single-Region key.
 */
export async function requirePrimaryForRotation(deps: KmsDeps, key: KeyRecord): Promise<MultiRegionKeyRecord | undefined> {
  if (!isMultiRegionKeyId(key.keyId)) return undefined;
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${key.arn} is missing.`);
  if (!isPrimaryHere(record, deps.settings))
    throw new KmsError(
      'UnsupportedOperationException',
      `${key.arn} is a multi-Region replica key; its rotation follows its primary key in ${record.primaryRegion}. Change it there.`,
    );
  if (!replicaTransportOf(deps.backend)) throw new KmsError('UnsupportedOperationException', 'This deployment\'s HSM backend cannot send key material to other regions.');
  return record;
}

/**
 * Phase 1 of a multi-Region rotation (the `rotate` replication job): every replica region receives
 * the new version (not current there yet) before the primary uses it, so a ciphertext made with it
 * decrypts everywhere. A region that cannot be reached throws, and the job is retried; the primary
 * keeps its current version meanwhile.
 */
export async function deliverNewVersion(deps: KmsDeps, key: KeyRecord, record: MultiRegionKeyRecord, travelling: TravellingVersion): Promise<void> {
  for (const { region } of activeOtherRegions(record, deps.settings)) {
    try {
      const wrapped = await wrapVersionsFor(deps, region, key, [travelling], true);
      await callPeer(deps, region, 'ImportReplicaVersions', { TransportKeyId: wrapped.transportKeyId, TransportHash: wrapped.hash, KeyId: key.keyId, Versions: wrapped.versions });
    } catch (error) {
      // The replica was deleted there: that region leaves the set, and the rotation goes on without it.
      if (!(error instanceof KmsError && error.type === 'NotFoundException')) throw error;
      await leaveSet(deps, key.keyId, region);
    }
  }
}

/**
 * After the primary changed what the keys share (its current version, its rotation settings):
 * tells every replica region. A region that misses it keeps using material every region has and is
 * told again by the scheduler (replication-jobs.ts).
 */
export async function shareWithReplicas(deps: KmsDeps, key: KeyRecord): Promise<void> {
  if (!isMultiRegionKeyId(key.keyId)) return;
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  if (!record || !isPrimaryHere(record, deps.settings)) return;
  for (const { region } of activeOtherRegions(record, deps.settings)) await syncOrRetryLater(deps, region, record, key);
}
