/** Alias-name and alias-target rules shared by CreateAlias, UpdateAlias and DeleteAlias. */
import { KmsError } from '../errors.js';
import { parseKeyReference } from '../key-resolver.js';
import type { KeyRecord } from '../model.js';
import type { JsonObject, KmsSettings } from '../operation.js';
import { requiredString } from '../validation.js';
import { ALIAS_NAME_MAX_LENGTH, ALIAS_NAME_PATTERN, checkAliasPrefix } from './alias-names.js';

/** Aliases one key may have (AWS's quota). */
export const MAX_ALIASES_PER_KEY = 50;

/**
 * The `AliasName` member. `forWrite` rejects names a customer may not create or move:
 * AWS reserves `alias/aws/` for AWS managed keys.
 */
export function parseAliasName(input: JsonObject, forWrite: boolean): string {
  return checkAliasPrefix(requiredString(input, 'AliasName', { min: 1, max: ALIAS_NAME_MAX_LENGTH, pattern: ALIAS_NAME_PATTERN }), forWrite);
}

/** An alias points at a key by id or key ARN, never at another alias. */
export function parseAliasTarget(input: JsonObject, settings: KmsSettings): string {
  const value = requiredString(input, 'TargetKeyId', { min: 1, max: 2048 });
  const ref = parseKeyReference(settings, value);
  if (ref.kind === 'alias')
    throw new KmsError('ValidationException', 'TargetKeyId must be a key ID or key ARN, not an alias.');
  return value;
}

/** symmetric, asymmetric or HMAC: the families UpdateAlias must not move an alias between. */
export function keyFamily(key: Pick<KeyRecord, 'keySpec'>): 'SYMMETRIC' | 'ASYMMETRIC' | 'HMAC' {
  if (key.keySpec === 'SYMMETRIC_DEFAULT') return 'SYMMETRIC';
  return key.keySpec.startsWith('HMAC_') ? 'HMAC' : 'ASYMMETRIC';
}
