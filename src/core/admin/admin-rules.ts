/**
 * Request members the `HsmKms.*` administration operations share, validated with AWS's
 * wording, and the shapes they answer with.
 */
import { KmsError } from '../errors.js';
import type { PrincipalRecord, Tag } from '../model.js';
import type { JsonObject, KmsDeps } from '../operation.js';
import { constraintError, epochSeconds, optionalInteger, optionalString, optionalStringList, requiredString } from '../validation.js';
import { checkRoles, checkTags, requirePrincipal } from './principals.js';
import type { PrincipalDetails } from './principals.js';

/** `UserName`: the principal an operation is about; NotFoundException when there is none. */
export async function targetPrincipal(deps: KmsDeps, input: JsonObject): Promise<PrincipalRecord> {
  return requirePrincipal(deps.store, deps.settings, requiredString(input, 'UserName', { min: 1, max: 64 }));
}

/** `Roles`: absent means the default (CryptoUser) where the caller allows it. */
export function parseRoles(input: JsonObject, required: boolean): ReturnType<typeof checkRoles> | undefined {
  const roles = optionalStringList(input, 'Roles', { max: 3 });
  if (roles === undefined) {
    if (required) throw constraintError('Roles', null, 'Member must not be null');
    return undefined;
  }
  return checkRoles(roles);
}

/** `Tags`: `[{TagKey, TagValue}]`, as TagResource takes them. */
export function parsePrincipalTags(input: JsonObject, field = 'Tags'): Tag[] {
  const value = input[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new KmsError('SerializationException', `Field '${field}' must be a list of {TagKey, TagValue}.`);
  const tags = value.map((t) => {
    if (typeof t !== 'object' || t === null || typeof t.TagKey !== 'string' || typeof t.TagValue !== 'string')
      throw new KmsError('SerializationException', `Field '${field}' must be a list of {TagKey, TagValue}.`);
    return { TagKey: t.TagKey as string, TagValue: t.TagValue as string };
  });
  checkTags(tags);
  return tags;
}

/** `Limit` (1–1000, default 100) and `Marker`, as every KMS list operation takes them. */
export function parsePaging(input: JsonObject): { limit: number; marker?: string } {
  const limit = optionalInteger(input, 'Limit', 1, 1000) ?? 100;
  const marker = optionalString(input, 'Marker', { min: 1, max: 1024 });
  return marker === undefined ? { limit } : { limit, marker };
}

/** A principal as list operations show it. */
export function principalSummary(p: PrincipalRecord): JsonObject {
  return { Arn: p.arn, UserName: p.name, ...(p.userId !== undefined ? { UserId: p.userId } : {}), Roles: [...p.roles], CreateDate: epochSeconds(p.createdAt) };
}

/** A principal as GetPrincipal shows it: roles, policies, tags, access key ids, owned keys; never a secret. */
export function principalView(details: PrincipalDetails): JsonObject {
  return {
    ...principalSummary(details.principal),
    Tags: details.tags,
    Policies: details.policies.map((p) => ({
      PolicyName: p.policyName,
      PolicyDocument: p.document,
      CreateDate: epochSeconds(p.createdAt),
      UpdateDate: epochSeconds(p.updatedAt),
    })),
    AccessKeys: details.accessKeys.map((k) => ({ AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: epochSeconds(k.createdAt) })),
    OwnedKeyCount: details.ownedKeyCount,
  };
}
