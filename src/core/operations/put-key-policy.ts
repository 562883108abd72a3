/** PutKeyPolicy: replaces the key policy after validating it and AWS's lockout safety check. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { checkPolicyLockout } from '../policy/lockout-check.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { optionalBoolean, POLICY_RULE, requiredKeyId, requiredString } from '../validation.js';
import { parsePolicyName } from './key-policy-name.js';
import { updateKeyRecord } from './key-updates.js';

export const putKeyPolicy: Operation = {
  name: 'PutKeyPolicy',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    parsePolicyName(input);
    const policy = requiredString(input, 'Policy', POLICY_RULE);
    const bypassLockout = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
    const parsed = parsePolicyDocument(policy);
    if (!bypassLockout)
      checkPolicyLockout(parsed, {
        principalArn: ctx.principal.arn,
        accountId: deps.settings.accountId,
        partition: deps.settings.partition,
      });
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:PutKeyPolicy',
      key,
      context: { 'kms:BypassPolicyLockoutSafetyCheck': String(bypassLockout) },
    });
    await updateKeyRecord(deps, key.keyId, (current) => ({ ...current, policy }));
    return {};
  },
};
