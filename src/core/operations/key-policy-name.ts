/** The `PolicyName` member: AWS keeps exactly one key policy per key, named `default`. */
import { KmsError } from '../errors.js';
import type { JsonObject } from '../operation.js';
import { optionalString } from '../validation.js';

export const DEFAULT_POLICY_NAME = 'default';

export function parsePolicyName(input: JsonObject): string {
  const name = optionalString(input, 'PolicyName', { min: 1, max: 128, pattern: /^[\w]+$/ }) ?? DEFAULT_POLICY_NAME;
  if (name !== DEFAULT_POLICY_NAME)
    throw new KmsError('NotFoundException', `No key policy named '${name}'; the only key policy name is 'default'.`);
  return name;
}
