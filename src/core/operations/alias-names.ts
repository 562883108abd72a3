/**
 * What an alias name may be — pure, so the web console checks a name as it is typed with the
 * same rule and words as CreateAlias, UpdateAlias and DeleteAlias (alias-rules.ts).
 */
import { KmsError } from '../errors.js';

/** AWS's `AliasName` pattern and length (a plain character class: linear). */
export const ALIAS_NAME_PATTERN = /^[a-zA-Z0-9:/_-]+$/;
export const ALIAS_NAME_MAX_LENGTH = 256;
export const ALIAS_PREFIX = 'alias/';

/**
 * The prefix rule, once the member's length and characters are known good: `alias/` then a
 * name; `forWrite` also refuses `alias/aws/`, which AWS reserves for AWS managed keys. A name
 * without the prefix is ValidationException with AWS's own message (what AWS KMS answers
 * CreateAlias `{"AliasName":"app"}`); a bare prefix or a reserved name is InvalidAliasNameException.
 */
export function checkAliasPrefix(name: string, forWrite: boolean): string {
  if (!name.startsWith(ALIAS_PREFIX))
    throw new KmsError(
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  if (name.length === ALIAS_PREFIX.length)
    throw new KmsError('InvalidAliasNameException', 'Alias must start with the prefix "alias/" followed by a name.');
  if (forWrite && name.startsWith('alias/aws/'))
    throw new KmsError('InvalidAliasNameException', 'Alias names beginning with "alias/aws/" are reserved for AWS managed keys.');
  return name;
}

/** The whole rule for a name typed by a person: length and characters, then the prefix. */
export function checkAliasName(name: string, forWrite: boolean): string {
  if (name.length > ALIAS_NAME_MAX_LENGTH || !ALIAS_NAME_PATTERN.test(name))
    throw new KmsError('ValidationException', `An alias name is 1 to ${ALIAS_NAME_MAX_LENGTH} letters, digits and the characters : / _ -`);
  return checkAliasPrefix(name, forWrite);
}
