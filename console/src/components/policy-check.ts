/**
 * Checks a policy document as the service will, before it is sent: JSON first (with the line and
 * column of the first error), then the IAM policy grammar as hsmkms accepts it
 * (src/core/policy/policy-document.ts, the code PutKeyPolicy and PutPrincipalPolicy run), then —
 * for a key policy — AWS's lockout safety check for the person editing it.
 */
import { KmsError } from '../../../src/core/errors.js';
import { checkPolicyLockout } from '../../../src/core/policy/lockout-check.js';
import { parsePolicyDocument, type PolicyKind } from '../../../src/core/policy/policy-document.js';

export type PolicyCheck =
  | { ok: true; statements: number }
  | { ok: false; name: string; message: string; position?: number; line?: number; column?: number };

export interface PolicyEditorCaller {
  principalArn: string;
  accountId: string;
  partition: string;
}

/** The 1-based line and column of a character offset. */
export function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return { line, column: position - before.lastIndexOf('\n') };
}

/** Checks a policy as the server would; `caller` adds the lockout check for key policies. */
export function checkPolicy(text: string, kind: PolicyKind, caller?: PolicyEditorCaller): PolicyCheck {
  if (text.trim() === '') return { ok: false, name: 'ValidationException', message: 'The policy is empty.' };
  try {
    JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = /position (\d+)/.exec(message);
    const position = at ? Number(at[1]) : text.length;
    return { ok: false, name: 'JSON', message: message.replace(/\s*\(line \d+ column \d+\)/, ''), position, ...lineAndColumn(text, position) };
  }
  try {
    const parsed = parsePolicyDocument(text, { kind });
    if (kind === 'resource' && caller) checkPolicyLockout(parsed, caller);
    return { ok: true, statements: parsed.statements.length };
  } catch (error) {
    if (error instanceof KmsError) return { ok: false, name: error.type, message: error.message };
    throw error;
  }
}

