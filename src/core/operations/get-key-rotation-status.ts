/**
 * GetKeyRotationStatus: whether automatic rotation is on, its period and next date. Keys that
 * cannot rotate report `false`, as AWS does. On-demand rotations here complete within the
 * request, so OnDemandRotationStartDate (an in-progress rotation) never appears.
 */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { JsonObject, Operation } from '../operation.js';
import { epochSeconds, requiredKeyId } from '../validation.js';

export const getKeyRotationStatus: Operation = {
  name: 'GetKeyRotationStatus',
  async run(deps, ctx, input) {
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, requiredKeyId(input));
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:GetKeyRotationStatus', key, context: {} });
    const output: JsonObject = { KeyId: key.arn, KeyRotationEnabled: key.rotationEnabled };
    if (key.rotationEnabled) {
      if (key.rotationPeriodInDays !== undefined) output.RotationPeriodInDays = key.rotationPeriodInDays;
      if (key.nextRotationDate) output.NextRotationDate = epochSeconds(key.nextRotationDate);
    }
    return output;
  },
};
