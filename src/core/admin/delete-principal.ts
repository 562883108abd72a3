/**
 * HsmKms.DeletePrincipal: the principal, its access keys, roles, policies and tags go at once;
 * keys it owned stay, without an owner (policies and grants still govern them); its open approval
 * requests are rejected and its votes on open requests removed, so that a principal created
 * again under the same name inherits neither.
 */
import { KmsError } from '../errors.js';
import { lockNames } from '../locks.js';
import type { Operation } from '../operation.js';
import { targetPrincipal } from './admin-rules.js';

export const deletePrincipal: Operation = {
  name: 'DeletePrincipal',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const principal = await targetPrincipal(deps, input);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:DeletePrincipal', context: {} });
    if (principal.arn === ctx.principal.arn)
      throw new KmsError('ValidationException', 'A principal cannot delete itself; ask another CryptoOfficer or use the account root.');
    const deleted = await deps.store.transaction(async (tx) => {
      // Votes hold the voter's name too (quorum/operations/vote.ts): one racing this deletion
      // either commits first, and its vote is removed below, or waits and finds no voter.
      await tx.holdLock(lockNames.principal(principal.arn));
      return tx.deletePrincipal(principal.arn, deps.clock.now());
    });
    if (!deleted)
      throw new KmsError('NotFoundException', `The principal with name ${principal.name} cannot be found.`);
    return {};
  },
};
