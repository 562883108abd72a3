/**
 * HsmKms.SyncMultiRegionKey — called by the deployment holding a multi-Region key's primary:
 * which region holds the primary now and which regions hold the key (after ReplicateKey and
 * UpdatePrimaryRegion). Answers this region's key state, or NotFoundException once this region's
 * key is gone (which is how the primary learns that a replica was deleted).
 */
import { KmsError } from '../errors.js';
import { resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredString, requiredStringList } from '../validation.js';
import { MULTI_REGION_KEY_ID, REGION_RULE } from './model.js';
import { updateRegionSet } from './peer-calls.js';

export const syncMultiRegionKey: Operation = {
  name: 'SyncMultiRegionKey',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    const regions = requiredStringList(input, 'Regions', { max: 32, member: REGION_RULE });
    const key = await resolveKey(deps.store, deps.settings, keyId);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:SyncMultiRegionKey', key, context: { 'kms:PrimaryRegion': primaryRegion } });
    const all = [...new Set([primaryRegion, ...regions])];
    if (!all.includes(deps.settings.region))
      throw new KmsError('ValidationException', `The regions of ${keyId} must include ${deps.settings.region}, which holds one of its keys.`);
    const written = await updateRegionSet(deps, keyId, (current) => {
      const same = current.primaryRegion === primaryRegion && current.regions.map((r) => r.region).join() === all.join();
      return same ? undefined : { ...current, primaryRegion, regions: all.map((region) => ({ region, state: 'Active' })) };
    });
    if (!written) throw new KmsError('KMSInternalException', `The multi-Region record of ${keyId} is missing in ${deps.settings.region}.`);
    return { KeyId: key.arn, KeyState: key.keyState };
  },
};
