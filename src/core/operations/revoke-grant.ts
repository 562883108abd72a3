/** RevokeGrant: deletes a grant; for key administrators (`kms:RevokeGrant`), not for the grant's own principals. */
import { invalidGrantId } from '../grants/index.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { dryRunSucceeded, parseDryRun } from './crypto-helpers.js';
import { parseGrantId } from './grant-rules.js';

export const revokeGrant: Operation = {
  name: 'RevokeGrant',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const grantId = parseGrantId(input, true)!;
    const dryRun = parseDryRun(input);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:RevokeGrant', key, context: { 'kms:GrantIsForAWSResource': 'false' } });
    const grant = await deps.store.getGrant(grantId);
    if (!grant || grant.keyId !== key.keyId) throw invalidGrantId(grantId);
    if (dryRun) throw dryRunSucceeded();
    await deps.store.deleteGrant(grant.grantId);
    return {};
  },
};
