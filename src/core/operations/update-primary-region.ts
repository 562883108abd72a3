/**
 * UpdatePrimaryRegion: makes the replica in PrimaryRegion the primary of a multi-Region key and
 * this region's key a replica. As in AWS the key is `Updating` while the change is in flight: the
 * new primary's deployment is told first (a `promote` replication job, tried at once and retried by
 * the scheduler while that region cannot be reached), then this region's record changes, then the
 * other replicas are told (or the scheduler, when one cannot be reached). The key stays usable in
 * cryptographic operations meanwhile.
 */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import { isMultiRegionKeyId, REGION_RULE } from '../multi-region/model.js';
import { changeSetWithJob, tryJobNow } from '../multi-region/replication-jobs.js';
import type { Operation } from '../operation.js';
import { requiredKeyId, requiredString } from '../validation.js';

export const updatePrimaryRegion: Operation = {
  name: 'UpdatePrimaryRegion',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (!isMultiRegionKeyId(key.keyId)) throw new KmsError('UnsupportedOperationException', `${key.arn} is not a multi-Region key.`);
    const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
    if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${key.arn} is missing.`);
    if (record.primaryRegion !== deps.settings.region)
      throw new KmsError('UnsupportedOperationException', `${key.arn} is a replica key; call UpdatePrimaryRegion on its primary key in ${record.primaryRegion}.`);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:UpdatePrimaryRegion', key, context: { 'kms:PrimaryRegion': primaryRegion } });
    if (primaryRegion === deps.settings.region) throw new KmsError('ValidationException', `${key.arn} is already the primary key, in ${primaryRegion}.`);
    // AWS: the primary must be Enabled when the change starts.
    if (key.keyState !== 'Enabled') throw new KmsError('KMSInvalidStateException', `${key.arn} is ${key.keyState}; the primary key must be Enabled to change its primary Region.`);
    const target = record.regions.find((r) => r.region === primaryRegion);
    if (!target) throw new KmsError('NotFoundException', `${key.arn} has no replica key in ${primaryRegion}; replicate it there first.`);
    if (target.state === 'Creating') throw new KmsError('KMSInvalidStateException', `The replica of ${key.arn} in ${primaryRegion} is still being created.`);
    if (!deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot reach other regions.');

    const job = { keyId: key.keyId, region: primaryRegion, kind: 'promote' as const };
    await changeSetWithJob(
      deps,
      key.keyId,
      (current) => {
        if (current.updating) throw new KmsError('KMSInvalidStateException', `${key.arn} is Updating: its primary Region is already changing.`);
        if (current.primaryRegion !== deps.settings.region) throw new KmsError('UnsupportedOperationException', `${key.arn} is no longer the primary key.`);
        return { ...current, updating: true };
      },
      job,
    );
    const outcome = await tryJobNow(deps, job);
    if (outcome?.status === 'given-up') throw outcome.error;
    return {};
  },
};
