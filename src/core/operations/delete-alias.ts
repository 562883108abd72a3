/** DeleteAlias: removes an alias; the key it pointed to is unaffected. */
import { KmsError } from '../errors.js';
import { aliasArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { parseAliasName } from './alias-rules.js';

export const deleteAlias: Operation = {
  name: 'DeleteAlias',
  async run(deps, ctx, input) {
    const aliasName = parseAliasName(input, false);
    const arn = aliasArn(deps.settings, aliasName);
    const alias = await deps.store.getAlias(aliasName);
    if (!alias) throw new KmsError('NotFoundException', `Alias ${arn} is not found.`);
    const key = await deps.store.getKey(alias.targetKeyId);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:DeleteAlias',
      key,
      // AWS sets no kms:RequestAlias for alias management: only for using a key by its alias.
      context: {},
    });
    await deps.store.deleteAlias(aliasName);
    return {};
  },
};
