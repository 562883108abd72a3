/** ListKeyPolicies: always `["default"]`, the one key policy a key has. */
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { DEFAULT_POLICY_NAME } from './key-policy-name.js';
import { pageOf, pagingFields, parsePaging } from './key-updates.js';

export const listKeyPolicies: Operation = {
  name: 'ListKeyPolicies',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const { limit, marker } = parsePaging(input, 1000, 100);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListKeyPolicies', key, context: {} });
    const { page, nextMarker } = pageOf([DEFAULT_POLICY_NAME], limit, marker);
    return { PolicyNames: page, ...pagingFields(nextMarker) };
  },
};
