/**
 * What a store's read cache hands out. Callers may change fields of a record they get (e.g. to
 * write it back, or push to one of its lists), and the cached record must not see that: each
 * read gets its own copy, as deep as the record's own lists. The SQLite and PostgreSQL stores
 * both serve the authorizer's and the operations' hot reads from caches through these.
 */
import type { PrincipalAuthorization } from '../../core/authorization/repository.js';
import type { KeyMaterialVersion, KeyRecord } from '../../core/model.js';
import type { QuorumRuleRecord } from '../../core/quorum/quorum.js';

export const cachedCopy = {
  key: (key: KeyRecord): KeyRecord => ({ ...key }),
  version: (version: KeyMaterialVersion): KeyMaterialVersion => ({ ...version }),
  principalAuthorization: (found: PrincipalAuthorization): PrincipalAuthorization => ({ ...found, policies: [...found.policies], tags: [...found.tags] }),
  quorumRules: (rules: readonly QuorumRuleRecord[]): QuorumRuleRecord[] => rules.map((rule) => ({ ...rule, approvers: [...rule.approvers] })),
};
