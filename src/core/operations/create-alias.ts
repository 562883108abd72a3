/** CreateAlias: a friendly name for a key (`alias/...`), unique in the account and region. */
import { KmsError } from '../errors.js';
import { aliasArn, requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { MAX_ALIASES_PER_KEY, parseAliasName, parseAliasTarget } from './alias-rules.js';
import { lockNames } from '../locks.js';

export const createAlias: Operation = {
  name: 'CreateAlias',
  async run(deps, ctx, input) {
    const aliasName = parseAliasName(input, true);
    const target = parseAliasTarget(input, deps.settings);
    const key = await resolveKey(deps.store, deps.settings, target);
    requireNotPendingDeletion(key);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:CreateAlias',
      key,
      // AWS sets no kms:RequestAlias for alias management: only for using a key by its alias.
      context: {},
    });
    const arn = aliasArn(deps.settings, aliasName);
    const now = deps.clock.now();
    await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.key(key.keyId));
      if (await tx.getAlias(aliasName)) throw new KmsError('AlreadyExistsException', `An alias with the name ${arn} already exists`);
      if ((await tx.countAliases(key.keyId)) >= MAX_ALIASES_PER_KEY)
        throw new KmsError('LimitExceededException', `${key.arn} already has ${MAX_ALIASES_PER_KEY} aliases, the most a key may have.`);
      await tx.insertAlias({ aliasName, aliasArn: arn, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now });
    });
    return {};
  },
};
