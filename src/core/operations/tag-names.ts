/**
 * What a key's tags may be — pure, so the web console checks a tag as it is typed with the same
 * limits and words as CreateKey and TagResource (tag-rules.ts).
 */
import { KmsError } from '../errors.js';

/** Tags one key may carry. */
export const MAX_TAGS_PER_KEY = 50;
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 256;

/** Tag keys beginning with `aws:` (any case) are AWS's; AWS KMS's words for one (recorded CreateKey and TagResource responses). */
export function checkTagKeyNotReserved(key: string): string {
  if (key.toLowerCase().startsWith('aws:')) throw new KmsError('TagException', 'Tags beginning with aws: are reserved');
  return key;
}

/** The whole rule for one tag typed by a person. */
export function checkTag(key: string, value: string): void {
  if (key.length < 1 || key.length > TAG_KEY_MAX_LENGTH) throw new KmsError('ValidationException', `A tag key is 1 to ${TAG_KEY_MAX_LENGTH} characters.`);
  if (value.length > TAG_VALUE_MAX_LENGTH) throw new KmsError('ValidationException', `A tag value is at most ${TAG_VALUE_MAX_LENGTH} characters.`);
  checkTagKeyNotReserved(key);
}
