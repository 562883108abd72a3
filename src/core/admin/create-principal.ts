/** HsmKms.CreatePrincipal: a new principal with its roles and one access key (the secret is shown once). */
import type { Operation } from '../operation.js';
import { requiredString } from '../validation.js';
import { parsePrincipalTags, parseRoles } from './admin-rules.js';
import { checkUserName, createPrincipal as create } from './principals.js';

export const createPrincipal: Operation = {
  name: 'CreatePrincipal',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const name = checkUserName(requiredString(input, 'UserName', { min: 1, max: 64 }));
    const roles = parseRoles(input, false) ?? ['CryptoUser'];
    const tags = parsePrincipalTags(input);
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:CreatePrincipal',
      context: { 'hsmkms:Roles': roles, 'aws:TagKeys': tags.map((t) => t.TagKey) },
    });
    const created = await create(deps.store, deps.backend, deps.settings, name, roles, tags);
    return { Arn: created.arn, AccessKeyId: created.accessKeyId, SecretAccessKey: created.secretAccessKey };
  },
};
