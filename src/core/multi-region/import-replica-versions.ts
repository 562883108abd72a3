/**
 * HsmKms.ImportReplicaVersions — new key material of a multi-Region key, sent by its primary's
 * deployment when the primary rotates: unwrapped into this HSM from the transport key that
 * PrepareReplica {Existing: true} made, and added to this region's replica as versions that are
 * not current yet (HsmKms.SyncMultiRegionKey {CurrentKeyMaterialId} switches once the primary has).
 */
import { KmsError } from '../errors.js';
import { resolveKey } from '../key-resolver.js';
import { PEER_REGION_CONTEXT } from '../authorization/peer-region.js';
import type { KeyRecord } from '../model.js';
import type { KmsDeps, Operation, RequestContext } from '../operation.js';
import type { AuthorizationRequest } from '../ports.js';
import { requiredEnum, requiredString } from '../validation.js';
import { TRANSPORT_HASHES } from './import-replica.js';
import { MULTI_REGION_KEY_ID, type MultiRegionKeyRecord } from './model.js';
import { parseVersions, unwrapArriving } from './versions.js';

/**
 * Authorizes sending new versions to the replica `key` (here, or PrepareReplica {Existing} for
 * them): by its owner or policy, and only by the peer principal of the region its primary is in
 * as this deployment records it (peer-region.ts). Answers that record.
 */
export async function authorizeVersionsFor(deps: KmsDeps, ctx: RequestContext, key: KeyRecord): Promise<MultiRegionKeyRecord | undefined> {
  const { request, record } = await versionsAuthorization(deps, ctx, key);
  await deps.authorizer.authorize(request);
  return record;
}

/** The authorization {@link authorizeVersionsFor} makes, for a call that authorizes it with its other actions. */
export async function versionsAuthorization(
  deps: KmsDeps,
  ctx: RequestContext,
  key: KeyRecord,
): Promise<{ request: AuthorizationRequest; record: MultiRegionKeyRecord | undefined }> {
  const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
  const context = record ? { [PEER_REGION_CONTEXT]: record.primaryRegion } : {};
  return { request: { principal: ctx.principal, action: 'hsmkms:ImportReplicaVersions', key, context }, record };
}

export const importReplicaVersions: Operation = {
  name: 'ImportReplicaVersions',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const transportKeyId = requiredString(input, 'TransportKeyId', { min: 1, max: 64 });
    const hash = requiredEnum(input, 'TransportHash', TRANSPORT_HASHES);
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const arriving = parseVersions(input, 'Versions');
    const key = await resolveKey(deps.store, deps.settings, keyId);
    const record = await authorizeVersionsFor(deps, ctx, key);
    // A replica still `Creating` gets every version with its material (ImportReplica).
    if (key.keyState === 'Creating') throw new KmsError('KMSInvalidStateException', `${key.arn} is Creating; its key material has not arrived yet.`);
    if (!record || record.primaryRegion === deps.settings.region)
      throw new KmsError('UnsupportedOperationException', `${key.arn} is not a replica key here; its material changes only by rotation in ${deps.settings.region}.`);
    const known = new Set((await deps.store.listKeyVersions(keyId)).map((v) => v.versionId));
    const fresh = arriving.filter((v) => !known.has(v.versionId));
    if (fresh.length > 0) {
      const arrived = await unwrapArriving(deps, keyId, key.keySpec, transportKeyId, hash, fresh, key.keyUsage);
      await deps.store.transaction(async (tx) => {
        for (const { version, transferWrapped } of arrived) {
          await tx.insertKeyVersion(version);
          await tx.multiRegion.insertTransferMaterial({ keyId, versionId: version.versionId, transferWrapped });
        }
      });
    } else await deps.store.multiRegion.takeTransportKey(transportKeyId);
    return { KeyId: key.arn, KeyMaterialIds: arriving.map((v) => v.versionId) };
  },
};
