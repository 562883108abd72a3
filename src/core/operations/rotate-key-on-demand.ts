/** RotateKeyOnDemand: rotates now, independent of (and without moving) the automatic schedule. */
import { requireEnabled, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { requireRotatable, rotateKeyMaterial } from './rotation.js';

export const rotateKeyOnDemand: Operation = {
  name: 'RotateKeyOnDemand',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    requireRotatable(key);
    requireEnabled(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:RotateKeyOnDemand', key, context: {} });
    // A multi-Region replica is refused inside rotateKeyMaterial (requirePrimaryForRotation), before any HSM work.
    const rotated = await rotateKeyMaterial(deps, key, 'ON_DEMAND');
    return { KeyId: rotated.arn };
  },
};
