/** GetKeyPolicy: the key's policy document. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { parsePolicyName } from './key-policy-name.js';

export const getKeyPolicy: Operation = {
  name: 'GetKeyPolicy',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const policyName = parsePolicyName(input);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:GetKeyPolicy', key, context: {} });
    return { Policy: key.policy, PolicyName: policyName };
  },
};
