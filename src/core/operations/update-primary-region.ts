/**
 * UpdatePrimaryRegion: makes the replica in PrimaryRegion the primary of a multi-Region key and
 * this region's key a replica. The new primary's deployment is told first (nothing changes here if
 * it cannot be reached); then this region's record, then the other replicas (or the scheduler, when one cannot be reached).
 */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import { isMultiRegionKeyId, REGION_RULE } from '../multi-region/model.js';
import { syncRegion, updateRegionSet } from '../multi-region/peer-calls.js';
import { syncOrRetryLater } from '../multi-region/shared-settings.js';
import type { Operation } from '../operation.js';
import { updateKeyRecord } from './key-updates.js';
import { requiredKeyId, requiredString } from '../validation.js';

export const updatePrimaryRegion: Operation = {
  name: 'UpdatePrimaryRegion',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    const key = await resolveKey(deps.store, deps.settings, keyIdValue);
    if (!isMultiRegionKeyId(key.keyId)) throw new KmsError('UnsupportedOperationException', `${key.arn} is not a multi-Region key.`);
    const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
    if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${key.arn} is missing.`);
    if (record.primaryRegion !== deps.settings.region)
      throw new KmsError('UnsupportedOperationException', `${key.arn} is a replica key; call UpdatePrimaryRegion on its primary key in ${record.primaryRegion}.`);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdatePrimaryRegion', key, context: { 'kms:PrimaryRegion': primaryRegion } });
    if (primaryRegion === deps.settings.region) throw new KmsError('ValidationException', `${key.arn} is already the primary key, in ${primaryRegion}.`);
    if (!record.regions.some((r) => r.region === primaryRegion))
      throw new KmsError('NotFoundException', `${key.arn} has no replica key in ${primaryRegion}; replicate it there first.`);
    if (!deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot reach other regions.');

    // The new primary takes the automatic rotation schedule with it; this region's key keeps the settings only.
    await syncRegion(deps, primaryRegion, { ...record, primaryRegion }, key);
    const written = await updateRegionSet(deps, key.keyId, (current) => ({ ...current, primaryRegion }));
    const replica = key.nextRotationDate ? await updateKeyRecord(deps, key.keyId, (current) => ({ ...current, nextRotationDate: undefined })) : key;
    for (const other of written?.regions ?? [])
      if (other.region !== deps.settings.region && other.region !== primaryRegion) await syncOrRetryLater(deps, other.region, written!, replica);
    return {};
  },
};
