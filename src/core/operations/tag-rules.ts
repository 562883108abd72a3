/** Tag validation shared by CreateKey and TagResource, with AWS's limits and exception names. */
import { KmsError } from '../errors.js';
import type { Tag } from '../model.js';
import type { JsonObject } from '../operation.js';
import { constraintError, type StringListRule } from '../validation.js';
import { checkTagKeyNotReserved, MAX_TAGS_PER_KEY, TAG_KEY_MAX_LENGTH, TAG_VALUE_MAX_LENGTH } from './tag-names.js';

export { MAX_TAGS_PER_KEY };

/**
 * `TagKeys` (UntagResource): AWS's model sets no count, but no key has more than
 * {@link MAX_TAGS_PER_KEY} tags to remove, and an unbounded list would reach the store whole.
 */
export const TAG_KEYS_RULE: StringListRule = { max: MAX_TAGS_PER_KEY, member: { min: 1, max: TAG_KEY_MAX_LENGTH } };

function tagError(message: string): KmsError {
  return new KmsError('TagException', message);
}

/** Parses a `Tags` list member; absent means none. */
export function parseTags(input: JsonObject, field: string): Tag[] {
  const value = input[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new KmsError('SerializationException', `Field '${field}' must be a list of tags.`);
  // No request can leave a key with more tags than the quota; refuse before reading each one, in
  // AWS KMS's words (its CreateKey answer to 51 tags, recorded).
  if (value.length > MAX_TAGS_PER_KEY) throw tagError('Too many tags');
  const tags: Tag[] = [];
  const seen = new Set<string>();
  value.forEach((raw: unknown, i) => {
    const where = `${field}.${i + 1}.member`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new KmsError('SerializationException', `Field '${field}' must be a list of tags.`);
    const { TagKey: key, TagValue: tagValue } = raw as Record<string, unknown>;
    if (key === undefined || key === null) throw constraintError(`${where}.tagKey`, null, 'Member must not be null');
    if (tagValue === undefined || tagValue === null) throw constraintError(`${where}.tagValue`, null, 'Member must not be null');
    if (typeof key !== 'string' || typeof tagValue !== 'string')
      throw new KmsError('SerializationException', `TagKey and TagValue in '${field}' must be strings.`);
    if (key.length < 1) throw constraintError(`${where}.tagKey`, key, 'Member must have length greater than or equal to 1');
    if (key.length > TAG_KEY_MAX_LENGTH) throw constraintError(`${where}.tagKey`, key, `Member must have length less than or equal to ${TAG_KEY_MAX_LENGTH}`);
    if (tagValue.length > TAG_VALUE_MAX_LENGTH)
      throw constraintError(`${where}.tagValue`, tagValue, `Member must have length less than or equal to ${TAG_VALUE_MAX_LENGTH}`);
    checkTagKeyNotReserved(key);
    if (seen.has(key)) throw tagError('Duplicate tag keys'); // AWS KMS's words (TagResource, recorded)
    seen.add(key);
    tags.push({ TagKey: key, TagValue: tagValue });
  });
  return tags;
}

/** Throws when adding `tags` to `existing` would exceed the per-key quota. */
export function checkTagCount(existing: readonly Tag[], tags: readonly Tag[]): void {
  const keys = new Set(existing.map((t) => t.TagKey));
  for (const t of tags) keys.add(t.TagKey);
  if (keys.size > MAX_TAGS_PER_KEY)
    throw tagError(`A KMS key can have at most ${MAX_TAGS_PER_KEY} tags; this request would leave it with ${keys.size}.`);
}

/** The condition keys a request's tags set: `aws:TagKeys` and `aws:RequestTag/<key>` for each. */
export function tagConditions(tags: Tag[]): Record<string, string | string[]> {
  const conditions: Record<string, string | string[]> = { 'aws:TagKeys': tags.map((t) => t.TagKey) };
  for (const tag of tags) conditions[`aws:RequestTag/${tag.TagKey}`] = tag.TagValue;
  return conditions;
}
