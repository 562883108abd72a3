/** EnableKeyRotation: turns on (or re-times) automatic rotation every RotationPeriodInDays. */
import { requireEnabled, resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import { requirePrimaryForRotation, shareWithReplicas } from '../multi-region/shared-settings.js';
import type { Operation } from '../operation.js';
import { optionalInteger, requiredKeyId } from '../validation.js';
import { updateKeyRecord } from './key-updates.js';
import { DEFAULT_ROTATION_PERIOD_DAYS, nextRotationAfterConfigure, requireRotatable } from './rotation.js';

function check(key: KeyRecord): void {
  requireRotatable(key);
  requireEnabled(key);
}

export const enableKeyRotation: Operation = {
  name: 'EnableKeyRotation',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const period = optionalInteger(input, 'RotationPeriodInDays', 90, 2560) ?? DEFAULT_ROTATION_PERIOD_DAYS;
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    check(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:EnableKeyRotation',
      key,
      context: { 'kms:RotationPeriodInDays': String(period) },
    });
    await requirePrimaryForRotation(deps, key);
    const updated = await updateKeyRecord(deps, key.keyId, (current) => {
      check(current);
      return {
        ...current,
        rotationEnabled: true,
        rotationPeriodInDays: period,
        nextRotationDate: nextRotationAfterConfigure(current, period, deps.clock.now()),
      };
    });
    await shareWithReplicas(deps, updated);
    return {};
  },
};
