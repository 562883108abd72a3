/** DisableKeyRotation: turns automatic rotation off; existing versions are kept. */
import { requireEnabled, resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { requirePrimaryForRotation, shareWithReplicas } from '../multi-region/shared-settings.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { updateKeyRecord } from './key-updates.js';
import { requireRotatable } from './rotation.js';

function check(key: KeyRecord): void {
  requireRotatable(key);
  requireEnabled(key);
}

export const disableKeyRotation: Operation = {
  name: 'DisableKeyRotation',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    check(key);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DisableKeyRotation', key, context: {} });
    await requirePrimaryForRotation(deps, key);
    if (!key.rotationEnabled) return {};
    const updated = await updateKeyRecord(deps, key.keyId, (current) => {
      check(current);
      return { ...current, rotationEnabled: false, rotationPeriodInDays: undefined, nextRotationDate: undefined };
    });
    await shareWithReplicas(deps, updated);
    return {};
  },
};
