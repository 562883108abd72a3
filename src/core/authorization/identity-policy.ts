/** IAM identity policies as principals carry them: checked with IAM's rules when stored. */
import { parsePolicyDocument, type PolicyDocument } from '../policy/policy-document.js';

/**
 * Parses and validates an identity policy (no Principal, as IAM requires). Throws
 * MalformedPolicyDocumentException naming the first problem.
 */
export function parseIdentityPolicy(text: string): PolicyDocument {
  return parsePolicyDocument(text, { kind: 'identity' });
}
