/**
 * ReplicateKey: a replica of a multi-Region primary key in another region — another hsmkms
 * deployment registered as a region peer (`hsmkms region add`). The peer's HSM makes an RSA
 * transport key (HsmKms.PrepareReplica), this HSM wraps the material to it inside the token, and
 * the peer unwraps it into its own HSM and creates the replica (HsmKms.ImportReplica): the
 * material is never in clear outside an HSM. The peer's own policies decide whether the peer
 * principal may create it. This region's record of the set gains the replica once it exists.
 */
import { KmsError } from '../errors.js';
import { requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import { isMultiRegionKeyId, REGION_RULE } from '../multi-region/model.js';
import { callPeer, syncRegion, updateRegionSet } from '../multi-region/peer-calls.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { replicaTransportOf, type TransportHash } from '../multi-region/transport.js';
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
    const transport = replicaTransportOf(deps.backend);
    const peers = deps.regionPeers;
    if (!transport || !peers) throw new KmsError('UnsupportedOperationException', 'This deployment cannot replicate keys to other regions.');
    if (!(await peers.has(replicaRegion)))
      throw new KmsError('UnsupportedOperationException', `${replicaRegion} is not a region this deployment replicates to; register it with hsmkms region add ${replicaRegion} --endpoint URL.`);
    const versions = await deps.store.listKeyVersions(key.keyId);
    const version = versions.find((v) => v.versionId === key.currentVersionId);
    const transfer = (await deps.store.multiRegion.listTransferMaterial(key.keyId)).find((t) => t.versionId === key.currentVersionId);
    if (!version || !transfer || versions.length !== 1)
      throw new KmsError('KMSInternalException', `The key material of ${key.arn} cannot be sent to another region.`);

    const prepared = await callPeer(deps, replicaRegion, 'PrepareReplica', { KeyId: key.keyId, KeySpec: key.keySpec });
    const theirs = Array.isArray(prepared.TransportHashes) ? prepared.TransportHashes : [];
    const hash = transport.transportHashes().find((h) => theirs.includes(h)) as TransportHash | undefined;
    if (typeof prepared.TransportKeyId !== 'string' || typeof prepared.PublicKey !== 'string' || !hash)
      throw new KmsError('KMSInternalException', `The deployment of ${replicaRegion} offered no transport key this HSM can wrap to.`);
    const wrapped = await transport.wrapForReplica({ keySpec: key.keySpec, transferWrapped: transfer.transferWrapped }, Buffer.from(prepared.PublicKey, 'base64'), hash);

    const regions = record.regions.map((r) => r.region);
    const created = await callPeer(deps, replicaRegion, 'ImportReplica', {
      TransportKeyId: prepared.TransportKeyId,
      TransportHash: hash,
      KeyId: key.keyId,
      KeySpec: key.keySpec,
      KeyUsage: key.keyUsage,
      PrimaryRegion: deps.settings.region,
      Regions: regions,
      CreationDate: Math.floor(key.creationDate.getTime() / 1000),
      KeyMaterialId: version.versionId,
      WrappedMaterial: wrapped.toString('base64'),
      ...(version.publicKey ? { PublicKey: Buffer.from(version.publicKey).toString('base64') } : {}),
      ...(description !== undefined ? { Description: description } : {}),
      ...(policy !== undefined ? { Policy: policy } : {}),
      ...(bypassLockout !== undefined ? { BypassPolicyLockoutSafetyCheck: bypassLockout } : {}),
      Tags: tags,
    });

    // The replica exists: record it here, then tell the other replicas (best effort: they learn it again with the next change).
    const updated = await updateRegionSet(deps, key.keyId, (current) =>
      current.regions.some((r) => r.region === replicaRegion) ? undefined : { ...current, regions: [...current.regions, { region: replicaRegion, state: 'Active' }] },
    );
    for (const other of updated?.regions ?? [])
      if (other.region !== deps.settings.region && other.region !== replicaRegion) await syncRegion(deps, other.region, updated!).catch(() => undefined);
    return { ReplicaKeyMetadata: created.ReplicaKeyMetadata, ReplicaPolicy: created.ReplicaPolicy, ReplicaTags: created.ReplicaTags };
  },
};
