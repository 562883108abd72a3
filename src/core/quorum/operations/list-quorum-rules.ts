/** HsmKms.ListQuorumRules: every quorum rule (there are at most a few hundred). */
import type { Operation } from '../../operation.js';
import { quorumRuleView } from './quorum-rules.js';

export const listQuorumRules: Operation = {
  name: 'ListQuorumRules',
  namespace: 'HsmKms',
  async run(deps, ctx) {
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'hsmkms:ListQuorumRules', context: {} });
    const rules = await deps.store.listQuorumRules();
    return { Rules: rules.map((r) => quorumRuleView(r, deps.settings)) };
  },
};
