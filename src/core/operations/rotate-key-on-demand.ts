/**
 * RotateKeyOnDemand: rotates now, independent of (and without moving) the automatic schedule.
 * A symmetric key with imported material rotates to the material imported for it
 * (ImportType NEW_KEY_MATERIAL, imported-materials.ts); any other generates new material.
 */
import { requireEnabled, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { rotateToImportedMaterial, rotatesImportedMaterial } from './imported-materials.js';
import { requireRotatable, rotateKeyMaterial } from './rotation.js';

export const rotateKeyOnDemand: Operation = {
  name: 'RotateKeyOnDemand',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    const imported = rotatesImportedMaterial(key);
    if (!imported) {
      requireRotatable(key); // a multi-Region imported key too (imported-materials.ts)
      requireEnabled(key);
    }
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:RotateKeyOnDemand', key, context: {} });
    // An imported key's checks (material pending rotation, then Enabled) run in the rotation's
    // transaction, after authorization: whether material is pending is not for every caller to learn.
    // A multi-Region replica is refused inside rotateKeyMaterial (requirePrimaryForRotation), before any HSM work.
    const rotated = imported ? await rotateToImportedMaterial(deps, key) : await rotateKeyMaterial(deps, key, 'ON_DEMAND');
    return { KeyId: rotated.arn };
  },
};
