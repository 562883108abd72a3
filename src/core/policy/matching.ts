/**
 * Matching rules of the IAM policy language used outside request evaluation (the lockout
 * safety check). Wildcards go through the linear-time matcher in `glob.ts`, never a regex.
 */
import { wildcardMatch } from './glob.js';
import type { PolicyPrincipal, PolicyStatement } from './policy-document.js';

/** IAM action patterns: case-insensitive, `*` any run of characters, `?` one character. */
export function actionMatches(pattern: string, action: string): boolean {
  return wildcardMatch(pattern, action, true);
}

/** Whether a statement's Action/NotAction covers `action`. */
export function statementCoversAction(statement: PolicyStatement, action: string): boolean {
  if (statement.action) return statement.action.some((p) => actionMatches(p, action));
  if (statement.notAction) return !statement.notAction.some((p) => actionMatches(p, action));
  return false;
}

/** The identity a request is made by, with the account it belongs to. */
export interface CallerIdentity {
  principalArn: string;
  accountId: string;
  partition: string;
}

/**
 * Whether a Principal block names the caller. Naming the account (its id or its root ARN)
 * counts: in IAM that delegates to the account's identity policies, which may allow the caller.
 */
export function principalMatches(principal: PolicyPrincipal, caller: CallerIdentity): boolean {
  if (principal === '*') return true;
  const ids = principal.AWS ?? [];
  const root = `arn:${caller.partition}:iam::${caller.accountId}:root`;
  return ids.some((id) => id === '*' || id === caller.accountId || id === root || id === caller.principalArn);
}
