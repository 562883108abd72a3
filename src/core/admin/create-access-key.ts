/**
 * HsmKms.CreateAccessKey: a second access key for a principal (for rotation); the secret is shown once.
 * For a quorum approver (asked by anyone but itself) the rules naming it guard the call (quorum/quorum.ts, GIVES_CREDENTIALS).
 */
import type { Operation } from '../operation.js';
import { epochSeconds } from '../validation.js';
import { targetPrincipal } from './admin-rules.js';
import { createAccessKey as create } from './principals.js';

export const createAccessKey: Operation = {
  name: 'CreateAccessKey',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:CreateAccessKey', context: {} });
    const created = await create(deps.store, deps.backend, principal);
    return {
      AccessKey: {
        UserName: principal.name,
        AccessKeyId: created.accessKeyId,
        SecretAccessKey: created.secretAccessKey,
        Status: 'Active',
        CreateDate: epochSeconds(created.createdAt),
      },
    };
  },
};
