/**
 * ReplicateKey: a replica of a multi-Region primary key in another region — another hsmkms
 * deployment registered as a region peer (`hsmkms region add`). As in AWS the call answers at once
 * with the replica in KeyState `Creating`: this region's record of the set gains the region as
 * `Creating`, and the transfer (multi-region/send-replica.ts: material wrapped token to token,
 * never in clear outside an HSM) runs as a replication job — tried at once, retried by the
 * scheduler while the peer cannot be reached, until the replica exists there and the region is
 * `Active`. A refusal that will not change (the peer's policies, a policy it rejects) removes the
 * region from the set again; within the call's first seconds it is the call's answer.
 */
import { KmsError } from '../errors.js';
import { keyMetadata } from '../key-metadata.js';
import { regionalKeyArn, requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { multiRegionConfiguration } from '../multi-region/metadata.js';
import { isMultiRegionKeyId, REGION_RULE } from '../multi-region/model.js';
import { changeSetWithJob, tryJobNow } from '../multi-region/replication-jobs.js';
import type { ReplicaOptions } from '../multi-region/send-replica.js';
import { replicaTransportOf } from '../multi-region/transport.js';
import type { Operation } from '../operation.js';
import { defaultKeyPolicy } from '../policy/default-policy.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { optionalBoolean, optionalString, POLICY_RULE, requiredKeyId, requiredString } from '../validation.js';
import { parseTags } from './tag-rules.js';

export const replicateKey: Operation = {
  name: 'ReplicateKey',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const replicaRegion = requiredString(input, 'ReplicaRegion', REGION_RULE);
    const policy = optionalString(input, 'Policy', POLICY_RULE);
    const description = optionalString(input, 'Description', { min: 0, max: 8192 });
    const bypassLockout = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck');
    const tags = parseTags(input, 'Tags');
    // The replica's region checks it again (and the lockout rule, for its own principal); a broken document fails here first.
    if (policy !== undefined) parsePolicyDocument(policy);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (!isMultiRegionKeyId(key.keyId)) throw new KmsError('UnsupportedOperationException', `${key.arn} is not a multi-Region key.`);
    const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
    if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${key.arn} is missing.`);
    if (record.primaryRegion !== deps.settings.region)
      throw new KmsError('UnsupportedOperationException', `${key.arn} is a replica key; replicate its primary key in ${record.primaryRegion}.`);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ReplicateKey', key, context: { 'kms:ReplicaRegion': replicaRegion } });

    if (replicaRegion === deps.settings.region)
      throw new KmsError('ValidationException', `${key.arn} is already in ${replicaRegion}; a replica must be in another region.`);
    if (record.updating) throw new KmsError('KMSInvalidStateException', `${key.arn} is Updating (its primary Region is changing); replicate it once that is done.`);
    if (key.origin === 'EXTERNAL' && key.currentVersionId === undefined)
      throw new KmsError('KMSInvalidStateException', `${key.arn} has no key material yet; import it first, then replicate the key and import the same material into the replica.`);
    if (key.origin !== 'EXTERNAL' && !replicaTransportOf(deps.backend)) throw new KmsError('UnsupportedOperationException', 'This deployment cannot replicate keys to other regions.');
    if (!deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot replicate keys to other regions.');
    if (!(await deps.regionPeers.has(replicaRegion)))
      throw new KmsError('UnsupportedOperationException', `${replicaRegion} is not a region this deployment replicates to; register it with hsmkms region add ${replicaRegion} --endpoint URL.`);

    const options: ReplicaOptions = {
      ...(policy !== undefined ? { Policy: policy } : {}),
      ...(description !== undefined ? { Description: description } : {}),
      ...(bypassLockout !== undefined ? { BypassPolicyLockoutSafetyCheck: bypassLockout } : {}),
      Tags: tags,
    };
    const job = { keyId: key.keyId, region: replicaRegion, kind: 'replicate' as const };
    const creating = await changeSetWithJob(
      deps,
      key.keyId,
      (current) => {
        if (current.regions.some((r) => r.region === replicaRegion)) throw new KmsError('AlreadyExistsException', `${key.arn} already has a replica in ${replicaRegion}.`);
        return { ...current, regions: [...current.regions, { region: replicaRegion, state: 'Creating' }] };
      },
      { ...job, payload: { ...options } },
    );
    const outcome = await tryJobNow(deps, job);
    if (outcome?.status === 'given-up') throw outcome.error;

    // AWS's answer: the replica as it is being created (the replica region's default policy is the account's).
    const replica: KeyRecord = {
      ...key,
      arn: regionalKeyArn(deps.settings, replicaRegion, key.keyId),
      description: description ?? '',
      keyState: 'Creating',
      policy: policy ?? defaultKeyPolicy(deps.settings),
      nextRotationDate: undefined,
      deletionDate: undefined,
      pendingDeletionWindowInDays: undefined,
      expirationModel: undefined,
      validTo: undefined,
    };
    return {
      ReplicaKeyMetadata: keyMetadata(replica, undefined, multiRegionConfiguration({ ...deps.settings, region: replicaRegion }, creating)),
      ReplicaPolicy: replica.policy,
      ReplicaTags: tags,
    };
  },
};
