/**
 * UpdateAlias: points an alias at another key. As in AWS, both keys must be of the same family
 * (symmetric, asymmetric, HMAC) and usage, so code using the alias keeps working.
 */
import { KmsError } from '../errors.js';
import { aliasArn, requireNotPendingDeletion, resolveKey } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { keyFamily, MAX_ALIASES_PER_KEY, parseAliasName, parseAliasTarget } from './alias-rules.js';
import { lockNames } from '../locks.js';

export const updateAlias: Operation = {
  name: 'UpdateAlias',
  async run(deps, ctx, input) {
    const aliasName = parseAliasName(input, true);
    const target = parseAliasTarget(input, deps.settings);
    const arn = aliasArn(deps.settings, aliasName);
    const alias = await deps.store.getAlias(aliasName);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${arn} is not found.`);
    const newKey = await resolveKey(deps.store, deps.settings, target);
    requireNotPendingDeletion(newKey);
    const oldKey = await deps.store.getKey(alias.targetKeyId);
    if (oldKey && (keyFamily(oldKey) !== keyFamily(newKey) || oldKey.keyUsage !== newKey.keyUsage))
      throw new KmsError(
        'ValidationException',
        `Alias ${arn} points to a ${keyFamily(oldKey)} ${oldKey.keyUsage} key; the new key must be of the same type and key usage, ` +
          `but ${newKey.arn} is a ${keyFamily(newKey)} ${newKey.keyUsage} key.`,
      );
    // AWS sets no kms:RequestAlias for alias management: only for using a key by its alias.
    const context = {};
    // Together: one quorum approval covers the rules guarding either key.
    const onNewKey = { principal: ctx.principal, action: 'kms:UpdateAlias', key: newKey, context };
    await deps.authorizer.authorize(oldKey ? [{ ...onNewKey, key: oldKey }, onNewKey] : onNewKey);
    await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.key(newKey.keyId));
      const current = await tx.getAlias(aliasName);
      if (!current) throw new KmsError('NotFoundException', `Alias ${arn} is not found.`);
      // The new key's aliases count as CreateAlias counts them: UpdateAlias could otherwise give a key any number.
      if (current.targetKeyId !== newKey.keyId && (await tx.countAliases(newKey.keyId)) >= MAX_ALIASES_PER_KEY)
        throw new KmsError('LimitExceededException', `${newKey.arn} already has ${MAX_ALIASES_PER_KEY} aliases, the most a key may have.`);
      await tx.updateAlias({ ...current, targetKeyId: newKey.keyId, lastUpdatedDate: deps.clock.now() });
    });
    return {};
  },
};
