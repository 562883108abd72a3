/**
 * RetireGrant: deletes a grant, named by its grant token or by key and grant id. The grant
 * itself says who may: its retiring principal, its grantee when it lists RetireGrant, and the
 * account that issued it (the root); an identity policy may deny it, or delegate it to another
 * principal of the account, and a quorum rule may guard it, as the authorizer decides.
 */
import { KmsError } from '../errors.js';
import { invalidGrantId, readGrantToken, type GrantRecord } from '../grants/index.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { optionalString } from '../validation.js';
import { dryRunSucceeded, parseDryRun } from './crypto-helpers.js';
import { parseGrantId } from './grant-rules.js';

export const retireGrant: Operation = {
  name: 'RetireGrant',
  async run(deps, ctx, input) {
    const token = optionalString(input, 'GrantToken', { min: 1, max: 8192 });
    const keyIdInput = optionalString(input, 'KeyId', { min: 1, max: 2048 });
    const grantIdInput = parseGrantId(input, false);
    const dryRun = parseDryRun(input);

    let grant: GrantRecord | undefined;
    if (token !== undefined) {
      const claims = await readGrantToken(deps.backend, token);
      if (grantIdInput !== undefined && grantIdInput !== claims.grantId)
        throw new KmsError('ValidationException', 'GrantId does not name the grant the GrantToken names.');
      if (keyIdInput !== undefined && (await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput)).keyId !== claims.keyId)
        throw new KmsError('ValidationException', 'KeyId does not name the key of the grant the GrantToken names.');
      grant = await deps.store.getGrant(claims.grantId);
      if (!grant) throw invalidGrantId(claims.grantId);
    } else {
      if (grantIdInput === undefined || keyIdInput === undefined)
        throw new KmsError('ValidationException', 'Identify the grant to retire with GrantToken, or with both KeyId and GrantId.');
      const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
      grant = await deps.store.getGrant(grantIdInput);
      if (!grant || grant.keyId !== key.keyId) throw invalidGrantId(grantIdInput);
    }

    const key = await deps.store.getKey(grant.keyId);
    if (!key) throw invalidGrantId(grant.grantId);
    // The grant names who may retire it; identity policies may still deny, quorum may guard
    // (src/core/authorization/retire-grant-rule.ts).
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:RetireGrant', key, context: {}, grant });
    if (dryRun) throw dryRunSucceeded();
    // A concurrent retire or revoke may have won; the grant is gone either way.
    await deps.store.deleteGrant(grant.grantId);
    return {};
  },
};
