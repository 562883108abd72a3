/**
 * Calls from this deployment to the other regions' deployments of a multi-Region key, and what a
 * client sees when one fails: the peer's own error when it is about the request, otherwise a
 * retryable DependencyTimeoutException (unreachable, or the peer credentials refused) or a
 * KMSInternalException.
 */
import { KmsError, type KmsErrorName } from '../errors.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import type { MultiRegionKeyRecord } from './model.js';
import { PeerError } from './ports.js';
import { PEER_REGION_TAG } from '../authorization/peer-region.js';

/** Peer answers passed on to the caller as they are: they are about the request. */
const PASSED_ON: readonly KmsErrorName[] = [
  'AlreadyExistsException',
  'MalformedPolicyDocumentException',
  'TagException',
  'LimitExceededException',
  'ValidationException',
  'UnsupportedOperationException',
  'NotFoundException',
  'KMSInvalidStateException',
  'DisabledException',
  // ImportReplica(Versions): the material does not match the PublicKey sent with it. The same
  // material would meet the same answer: a refusal for good (replication-jobs.ts), never retried.
  'IncorrectKeyMaterialException',
];

/** `HsmKms.<operation>` in `region`, with failures as the KmsError the caller should see. */
export async function callPeer(deps: KmsDeps, region: string, operation: string, input: JsonObject): Promise<JsonObject> {
  if (!deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot reach other regions.');
  try {
    return await deps.regionPeers.call(region, operation, input);
  } catch (error) {
    if (!(error instanceof PeerError)) throw error;
    if ((PASSED_ON as readonly string[]).includes(error.type)) throw new KmsError(error.type as KmsErrorName, `${region}: ${error.message}`);
    if (error.unboundPeer) throw unboundPeerError(deps, region, error);
    if (error.type === 'AccessDeniedException')
      throw new KmsError('AccessDeniedException', `The deployment of ${region} refused this deployment's peer principal: ${error.message}`);
    if (error.retryable)
      throw new KmsError('DependencyTimeoutException', `The deployment of ${region} could not be reached or refused the peer credentials (${error.type}); nothing was changed there. Try again.`);
    throw new KmsError('KMSInternalException', `The deployment of ${region} answered ${error.type}: ${error.message}`);
  }
}

/**
 * The peer principal `region`'s deployment holds for this one is a RegionPeer bound to no region
 * (made before the binding existed). Retryable: the work waits, retried with backoff, until an
 * operator binds it; the message (logged with every retry, and the job's last error) is the
 * command to run there.
 */
export function unboundPeerError(deps: KmsDeps, region: string, error: PeerError): KmsError {
  // The peer's refusal names its principal: `hsmkms principal tag NAME --tag …` (a bounded match).
  const name = /hsmkms principal tag (\S{1,128}) --tag/.exec(error.message.slice(0, 2048))?.[1] ?? 'PEER-PRINCIPAL';
  return new KmsError(
    'DependencyTimeoutException',
    `The deployment of ${region} refuses this deployment's peer principal until it is bound to ${deps.settings.region}: on the deployment of ${region} run ` +
      `hsmkms principal tag ${name} --tag ${PEER_REGION_TAG}=${deps.settings.region} (nothing was changed there; the work is retried until then).`,
  );
}

/**
 * Tells `region`'s deployment what the replicas share (HsmKms.SyncMultiRegionKey): the primary's
 * region, the regions, the current key material and the rotation settings (the automatic schedule
 * only to the primary, whose scheduler rotates). Answers the key state there.
 */
export async function syncRegion(deps: KmsDeps, region: string, record: Pick<MultiRegionKeyRecord, 'keyId' | 'primaryRegion' | 'regions'>, key: KeyRecord): Promise<string> {
  const answer = await callPeer(deps, region, 'SyncMultiRegionKey', {
    KeyId: record.keyId,
    PrimaryRegion: record.primaryRegion,
    // A replica still being created is not told of yet: the regions it would name must hold the key.
    Regions: record.regions.filter((r) => r.state === 'Active').map((r) => r.region),
    ...(key.currentVersionId ? { CurrentKeyMaterialId: key.currentVersionId } : {}),
    RotationEnabled: key.rotationEnabled,
    ...(key.rotationPeriodInDays !== undefined ? { RotationPeriodInDays: key.rotationPeriodInDays } : {}),
    ...(key.nextRotationDate ? { NextRotationDate: Math.floor(key.nextRotationDate.getTime() / 1000) } : {}),
  });
  return String(answer.KeyState);
}

/** `region` leaves the set of `keyId` (its replica there is gone, or will never be made). */
export async function leaveSet(deps: KmsDeps, keyId: string, region: string): Promise<void> {
  await updateRegionSet(deps, keyId, (current) =>
    current.regions.some((r) => r.region === region) ? { ...current, regions: current.regions.filter((r) => r.region !== region) } : undefined,
  );
}

/**
 * Writes a change to this deployment's record of the set, re-reading it on a concurrent change.
 * `change` returns undefined when nothing is left to do.
 */
export async function updateRegionSet(
  deps: KmsDeps,
  keyId: string,
  change: (current: MultiRegionKeyRecord) => Omit<MultiRegionKeyRecord, 'revision'> | undefined,
): Promise<MultiRegionKeyRecord | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await deps.store.multiRegion.getMultiRegionKey(keyId);
    if (!current) return undefined;
    const next = change(current);
    if (!next) return current;
    const written = { ...next, revision: current.revision + 1 };
    if (await deps.store.multiRegion.updateMultiRegionKey(written)) return written;
  }
  throw new KmsError('KMSInternalException', `The multi-Region record of ${keyId} kept changing; try again.`);
}

/** Asks for `region` to be told the key's shared settings again later (a `sync` replication job). */
export async function enqueueSync(deps: KmsDeps, keyId: string, region: string): Promise<void> {
  await deps.store.multiRegion.enqueueReplicationJob({ keyId, region, kind: 'sync', payload: '{}' }, deps.clock.now());
}

/** Tells `region` now, or leaves a job for the scheduler when it cannot be reached. */
export async function syncOrRetryLater(deps: KmsDeps, region: string, record: MultiRegionKeyRecord, key: KeyRecord): Promise<void> {
  try {
    await syncRegion(deps, region, record, key);
  } catch {
    await enqueueSync(deps, key.keyId, region);
  }
}
