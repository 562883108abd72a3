/**
 * HsmKms.SyncMultiRegionKey — called by the deployment holding a multi-Region key's primary:
 * what the related keys share — which region holds the primary, which regions hold the key, the
 * current key material (once the primary has made a rotated version current; the version must
 * have arrived already) and the rotation settings (the automatic schedule is kept only where the
 * primary is). Answers this region's key state, or NotFoundException once this region's key is
 * gone (which is how the primary learns that a replica was deleted).
 */
import { PEER_REGION_CONTEXT } from '../authorization/peer-region.js';
import { KmsError } from '../errors.js';
import { resolveKey } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import type { Operation } from '../operation.js';
import { updateKeyRecord } from '../operations/key-updates.js';
import { KEY_MATERIAL_ID_RULE, optionalBoolean, optionalInteger, optionalString, requiredString, requiredStringList } from '../validation.js';
import { MULTI_REGION_KEY_ID, REGION_RULE } from './model.js';
import { enqueueSync, updateRegionSet } from './peer-calls.js';

export const syncMultiRegionKey: Operation = {
  name: 'SyncMultiRegionKey',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    const regions = requiredStringList(input, 'Regions', { max: 32, member: REGION_RULE });
    const currentVersionId = optionalString(input, 'CurrentKeyMaterialId', KEY_MATERIAL_ID_RULE);
    const rotationEnabled = optionalBoolean(input, 'RotationEnabled');
    const rotationPeriod = optionalInteger(input, 'RotationPeriodInDays', 90, 2560);
    const nextRotation = optionalInteger(input, 'NextRotationDate', 0, 32_503_680_000);
    const key = await resolveKey(deps.store, deps.settings, keyId);
    // Only the peer principal of the region this deployment records as the primary's tells it
    // anything, a change of primary included (the former primary tells the new one and the others).
    const recorded = await deps.store.multiRegion.getMultiRegionKey(keyId);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:SyncMultiRegionKey',
      key,
      context: { 'kms:PrimaryRegion': primaryRegion, ...(recorded ? { [PEER_REGION_CONTEXT]: recorded.primaryRegion } : {}) },
    });
    const all = [...new Set([primaryRegion, ...regions])];
    if (!all.includes(deps.settings.region))
      throw new KmsError('ValidationException', `The regions of ${keyId} must include ${deps.settings.region}, which holds one of its keys.`);
    // An imported key's replica knows its KeyMaterialId before its material is imported (PendingImport, or
    // its material deleted): that material is not missing, it is the one the replica waits for.
    const awaitedImport = key.origin === 'EXTERNAL' && key.currentVersionId === currentVersionId;
    if (currentVersionId !== undefined && !awaitedImport && !(await deps.store.getKeyVersion(keyId, currentVersionId)))
      throw new KmsError('ValidationException', `Key material ${currentVersionId} of ${keyId} has not arrived in ${deps.settings.region}; send it first (ImportReplicaVersions).`);
    const primaryHere = primaryRegion === deps.settings.region;
    let formerPrimary: string | undefined;
    const written = await updateRegionSet(deps, keyId, (current) => {
      formerPrimary = primaryHere && current.primaryRegion !== primaryRegion ? current.primaryRegion : undefined;
      // UpdatePrimaryRegion: as in AWS, the replica that becomes the primary must be Enabled.
      if (formerPrimary !== undefined && key.keyState !== 'Enabled')
        throw new KmsError('KMSInvalidStateException', `${key.arn} is ${key.keyState}; a replica must be Enabled to become the primary key.`);
      const same = current.primaryRegion === primaryRegion && current.regions.map((r) => r.region).join() === all.join();
      return same ? undefined : { ...current, primaryRegion, regions: all.map((region) => ({ region, state: 'Active' })) };
    });
    if (!written) throw new KmsError('KMSInternalException', `The multi-Region record of ${keyId} is missing in ${deps.settings.region}.`);
    // Just made the primary: telling the other replica regions is this deployment's work from now
    // on. The former primary tells them at once too, but only a primary's scheduler retries a
    // region that missed it (a `sync` job runs where the primary is), so each gets a job here.
    if (formerPrimary !== undefined)
      for (const region of all) if (region !== primaryRegion && region !== formerPrimary) await enqueueSync(deps, keyId, region);

    const shared = (k: KeyRecord): KeyRecord => {
      const next = { ...k };
      if (currentVersionId !== undefined) next.currentVersionId = currentVersionId;
      if (rotationEnabled !== undefined) {
        next.rotationEnabled = rotationEnabled;
        next.rotationPeriodInDays = rotationEnabled ? (rotationPeriod ?? k.rotationPeriodInDays) : undefined;
        next.nextRotationDate = rotationEnabled && primaryHere && nextRotation !== undefined ? new Date(nextRotation * 1000) : undefined;
      }
      return next;
    };
    const unchanged = (a: KeyRecord, b: KeyRecord) =>
      a.currentVersionId === b.currentVersionId &&
      a.rotationEnabled === b.rotationEnabled &&
      a.rotationPeriodInDays === b.rotationPeriodInDays &&
      a.nextRotationDate?.getTime() === b.nextRotationDate?.getTime();
    const updated = unchanged(shared(key), key) ? key : await updateKeyRecord(deps, keyId, (current) => shared(current));
    return { KeyId: updated.arn, KeyState: updated.keyState };
  },
};
