/** RotateKeyOnDemand: rotates now, independent of (and without moving) the automatic schedule. */
import { KmsError } from '../errors.js';
import { requireEnabled, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { requireRotatable, rotateKeyMaterial } from './rotation.js';

export const rotateKeyOnDemand: Operation = {
  name: 'RotateKeyOnDemand',
  async run(deps, ctx, input) {
    const key = await resolveKey(deps.store, deps.settings, requiredKeyId(input));
    // Rotation of multi-Region keys would have to reach every replica's HSM; not built yet.
    if (key.keyId.startsWith('mrk-')) throw new KmsError('UnsupportedOperationException', `${key.arn} is a multi-Region key; this service does not rotate multi-Region keys yet.`);
    requireRotatable(key);
    requireEnabled(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:RotateKeyOnDemand', key, context: {} });
    const rotated = await rotateKeyMaterial(deps, key, 'ON_DEMAND');
    return { KeyId: rotated.arn };
  },
};
