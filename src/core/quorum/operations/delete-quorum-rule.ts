/** HsmKms.DeleteQuorumRule: removes a rule; requests already open keep what it asked of them. */
import { KmsError } from '../../errors.js';
import type { Operation } from '../../operation.js';
import { requiredString } from '../../validation.js';

export const deleteQuorumRule: Operation = {
  name: 'DeleteQuorumRule',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const ruleId = requiredString(input, 'RuleId', { min: 1, max: 64 });
    const rule = await deps.store.getQuorumRule(ruleId);
    if (!rule) throw new KmsError('NotFoundException', `Quorum rule ${ruleId} does not exist.`);
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:DeleteQuorumRule', context: { 'hsmkms:QuorumAction': rule.action } });
    if (!(await deps.store.deleteQuorumRule(ruleId))) throw new KmsError('NotFoundException', `Quorum rule ${ruleId} does not exist.`);
    return {};
  },
};
