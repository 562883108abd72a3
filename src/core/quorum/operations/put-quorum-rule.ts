/**
 * HsmKms.PutQuorumRule: creates or replaces a quorum rule. Without `RuleId`, a rule with the
 * same Action, KeyId and TaggedKeysOnly is replaced (so a retry does not add a second rule);
 * with it, that rule is replaced. Changing rules can itself be guarded (`hsmkms:PutQuorumRule`).
 */
import { KmsError } from '../../errors.js';
import { resolveKey } from '../../key-resolver.js';
import type { Operation } from '../../operation.js';
import { constraintError, optionalBoolean, optionalInteger, optionalString } from '../../validation.js';
import { newQuorumRuleId } from '../index.js';
import { MAX_APPROVERS, MAX_QUORUM_RULES, type QuorumRuleRecord } from '../quorum.js';
import { parseApprovers, parseRuleAction, quorumRuleView } from './quorum-rules.js';
import { lockNames } from '../../locks.js';

export const putQuorumRule: Operation = {
  name: 'PutQuorumRule',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const ruleIdInput = optionalString(input, 'RuleId', { min: 1, max: 64 });
    const action = parseRuleAction(input);
    const keyIdInput = optionalString(input, 'KeyId', { min: 1, max: 2048 });
    const taggedKeysOnly = optionalBoolean(input, 'TaggedKeysOnly') ?? false;
    if (input.MinApprovals === undefined || input.MinApprovals === null) throw constraintError('MinApprovals', null, 'Member must not be null');
    const minApprovals = optionalInteger(input, 'MinApprovals', 1, MAX_APPROVERS)!;
    const approvers = await parseApprovers(deps, input, MAX_APPROVERS);
    if (minApprovals > approvers.length)
      throw new KmsError('ValidationException', `MinApprovals (${minApprovals}) is more than the ${approvers.length} approver(s) listed: the rule could never be satisfied.`);
    const key = keyIdInput === undefined ? undefined : await resolveKey(deps.store, deps.settings, keyIdInput);

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:PutQuorumRule',
      context: { 'hsmkms:QuorumAction': action, ...(key ? { 'hsmkms:QuorumKeyArn': key.arn } : {}) },
    });

    const now = deps.clock.now();
    const rule = await deps.store.transaction(async (tx) => {
      await tx.holdLock(lockNames.quorumRules());
      const rules = await tx.listQuorumRules();
      const existing =
        ruleIdInput !== undefined
          ? rules.find((r) => r.ruleId === ruleIdInput)
          : rules.find((r) => r.action === action && r.keyId === key?.keyId && r.taggedKeysOnly === taggedKeysOnly);
      if (ruleIdInput !== undefined && !existing) throw new KmsError('NotFoundException', `Quorum rule ${ruleIdInput} does not exist.`);
      if (!existing && rules.length >= MAX_QUORUM_RULES)
        throw new KmsError('LimitExceededException', `This service already has ${rules.length} quorum rules, the most it allows (${MAX_QUORUM_RULES}).`);
      const next: QuorumRuleRecord = {
        ruleId: existing?.ruleId ?? newQuorumRuleId(),
        action,
        keyId: key?.keyId,
        taggedKeysOnly,
        minApprovals,
        approvers,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putQuorumRule(next);
      return next;
    });
    return { Rule: quorumRuleView(rule, deps.settings) };
  },
};
