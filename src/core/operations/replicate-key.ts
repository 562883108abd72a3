/**
 * ReplicateKey: a replica of a multi-Region primary key in another region — another hsmkms
 * deployment registered as a region peer (`hsmkms region add`). The peer's HSM makes an RSA
 * transport key (HsmKms.PrepareReplica), this HSM wraps every version of the material to it inside
 * the token, and the peer unwraps them into its own HSM and creates the replica (HsmKms.ImportReplica): the
 * material is never in clear outside an HSM. The peer's own policies decide whether the peer
 * principal may create it. This region's record of the set gains the replica once it exists.
 */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import { isMultiRegionKeyId, REGION_RULE } from '../multi-region/model.js';
import { callPeer, updateRegionSet } from '../multi-region/peer-calls.js';
import { syncOrRetryLater } from '../multi-region/shared-settings.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { replicaTransportOf } from '../multi-region/transport.js';
import { travellingVersions, wrapVersionsFor } from '../multi-region/versions.js';
import type { Operation } from '../operation.js';
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

    const key = await resolveKey(deps.store, deps.settings, keyIdValue);
    if (!isMultiRegionKeyId(key.keyId)) throw new KmsError('UnsupportedOperationException', `${key.arn} is not a multi-Region key.`);
    const record = await deps.store.multiRegion.getMultiRegionKey(key.keyId);
    if (!record) throw new KmsError('KMSInternalException', `The multi-Region record of ${key.arn} is missing.`);
    if (record.primaryRegion !== deps.settings.region)
      throw new KmsError('UnsupportedOperationException', `${key.arn} is a replica key; replicate its primary key in ${record.primaryRegion}.`);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ReplicateKey', key, context: { 'kms:ReplicaRegion': replicaRegion } });

    if (replicaRegion === deps.settings.region)
      throw new KmsError('ValidationException', `${key.arn} is already in ${replicaRegion}; a replica must be in another region.`);
    if (record.regions.some((r) => r.region === replicaRegion))
      throw new KmsError('AlreadyExistsException', `${key.arn} already has a replica in ${replicaRegion}.`);
    if (!replicaTransportOf(deps.backend) || !deps.regionPeers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot replicate keys to other regions.');
    if (!(await deps.regionPeers.has(replicaRegion)))
      throw new KmsError('UnsupportedOperationException', `${replicaRegion} is not a region this deployment replicates to; register it with hsmkms region add ${replicaRegion} --endpoint URL.`);

    const wrapped = await wrapVersionsFor(deps, replicaRegion, key, await travellingVersions(deps, key), false);
    const created = await callPeer(deps, replicaRegion, 'ImportReplica', {
      TransportKeyId: wrapped.transportKeyId,
      TransportHash: wrapped.hash,
      KeyId: key.keyId,
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      PrimaryRegion: deps.settings.region,
      Regions: record.regions.map((r) => r.region),
      CreationDate: Math.floor(key.creationDate.getTime() / 1000),
      Versions: wrapped.versions,
      CurrentKeyMaterialId: key.currentVersionId,
      ...(key.rotationEnabled && key.rotationPeriodInDays !== undefined ? { RotationPeriodInDays: key.rotationPeriodInDays } : {}),
      ...(description !== undefined ? { Description: description } : {}),
      ...(policy !== undefined ? { Policy: policy } : {}),
      ...(bypassLockout !== undefined ? { BypassPolicyLockoutSafetyCheck: bypassLockout } : {}),
      Tags: tags,
    });

    // The replica exists: record it here, then tell the other replicas (or leave it to the scheduler).
    const updated = await updateRegionSet(deps, key.keyId, (current) =>
      current.regions.some((r) => r.region === replicaRegion) ? undefined : { ...current, regions: [...current.regions, { region: replicaRegion, state: 'Active' }] },
    );
    for (const other of updated?.regions ?? [])
      if (other.region !== deps.settings.region && other.region !== replicaRegion) await syncOrRetryLater(deps, other.region, updated!, key);
    return { ReplicaKeyMetadata: created.ReplicaKeyMetadata, ReplicaPolicy: created.ReplicaPolicy, ReplicaTags: created.ReplicaTags };
  },
};
