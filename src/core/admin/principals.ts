/**
 * Principals (IAM-style users), their roles, access keys, identity policies and tags: the rules
 * and the writes, shared by the `HsmKms.*` administration operations and the offline CLI. A
 * secret access key is shown once, when it is created, and stored only sealed by the HSM.
 */
import { randomBytes } from 'node:crypto';
import { randomBase32 } from '../base32.js';
import { KmsError } from '../errors.js';
import type { PrincipalRecord, Tag } from '../model.js';
import type { KmsSettings } from '../operation.js';
import type { KeyBackend, MetadataStore } from '../ports.js';
import type { AccessKeySummary, IdentityPolicyRecord } from '../authorization/repository.js';
import { parseIdentityPolicy } from '../authorization/identity-policy.js';
import { checkPolicyName, checkRoles, checkUserName } from './principal-names.js';
import { callerText } from '../caller-text.js';
import { lockNames } from '../locks.js';

export { ALL_ROLES, checkPolicyName, checkRoles, checkUserName } from './principal-names.js';

/** IAM's quotas, as AWS sets them by default. */
export const MAX_PRINCIPALS = 5000;
/** IAM: two access keys per user, so one can be rotated while the other works. */
export const MAX_ACCESS_KEYS_PER_PRINCIPAL = 2;
/** IAM: ten managed policies per user. */
export const MAX_POLICIES_PER_PRINCIPAL = 10;
/** IAM: a managed policy document holds at most 6,144 characters. */
export const MAX_POLICY_DOCUMENT_CHARS = 6144;
/** IAM: fifty tags per user. */
export const MAX_PRINCIPAL_TAGS = 50;

/** `AKIA` followed by 16 base-32 characters, the shape of an AWS long-term access key id. */
export function generateAccessKeyId(): string {
  return `AKIA${randomBase32(16)}`;
}

/**
 * `AIDA` followed by 17 base-32 characters: the shape of an IAM user's unique id, what
 * `aws:userid` and GetCallerIdentity's `UserId` hold for a user (the root's is the account id).
 * Unlike the name, it is never reused: a principal deleted and created again gets a new one.
 */
export function generateUserId(): string {
  return `AIDA${randomBase32(17)}`;
}

/** 40 characters of base64, like an AWS secret access key (240 random bits). */
export function generateSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

/** `arn:aws:iam::<account>:user/<name>` */
export function userArn(settings: Pick<KmsSettings, 'partition' | 'accountId'>, name: string): string {
  return `arn:${settings.partition}:iam::${settings.accountId}:user/${name}`;
}

/** `arn:aws:iam::<account>:root` */
export function rootArn(settings: Pick<KmsSettings, 'partition' | 'accountId'>): string {
  return `arn:${settings.partition}:iam::${settings.accountId}:root`;
}

/** The principal named `name`, or NotFoundException in IAM's words. */
export async function requirePrincipal(store: MetadataStore, settings: KmsSettings, name: string): Promise<PrincipalRecord> {
  const principal = await store.getPrincipal(userArn(settings, checkUserName(name)));
  if (!principal) throw new KmsError('NotFoundException', `The principal with name ${name} cannot be found.`);
  return principal;
}

/**
 * Creates a principal named `name` with one access key. Throws ValidationException for a name
 * IAM would refuse, AlreadyExistsException for a name that is taken, LimitExceededException
 * when the account holds {@link MAX_PRINCIPALS}.
 */
export async function createPrincipal(
  store: MetadataStore,
  backend: KeyBackend,
  settings: KmsSettings,
  name: string,
  roles: readonly string[] = ['CryptoUser'],
  tags: Tag[] = [],
): Promise<{ arn: string; accessKeyId: string; secretAccessKey: string }> {
  checkUserName(name);
  const checkedRoles = checkRoles(roles);
  checkTags(tags);
  const arn = userArn(settings, name);
  if (await store.getPrincipal(arn)) throw alreadyExists(name, arn);
  const principal: PrincipalRecord = { arn, name, accountId: settings.accountId, roles: checkedRoles, createdAt: new Date(), userId: generateUserId() };
  const accessKeyId = generateAccessKeyId();
  const secretAccessKey = generateSecretAccessKey();
  // HSM step first: if sealing fails nothing has been written.
  const sealedSecret = await backend.sealSecret(Buffer.from(secretAccessKey, 'utf8'));
  await store.transaction(async (tx) => {
    await tx.holdLock(lockNames.principals());
    // Checked again inside the transaction: another process may have created it meanwhile.
    if (await tx.getPrincipal(arn)) throw alreadyExists(name, arn);
    if ((await tx.countPrincipals()) >= MAX_PRINCIPALS)
      throw new KmsError('LimitExceededException', `The account already has ${MAX_PRINCIPALS} principals, the most it may have.`);
    await tx.insertPrincipal(principal);
    await tx.insertAccessKey({ accessKeyId, principalArn: arn, sealedSecret, createdAt: principal.createdAt, status: 'Active' });
    if (tags.length > 0) await tx.putPrincipalTags(arn, tags);
  });
  return { arn, accessKeyId, secretAccessKey };
}

function alreadyExists(name: string, arn: string): KmsError {
  return new KmsError('AlreadyExistsException', `A principal named '${name}' already exists (${arn}).`);
}

/** A new access key for an existing principal (at most {@link MAX_ACCESS_KEYS_PER_PRINCIPAL}). */
export async function createAccessKey(
  store: MetadataStore,
  backend: KeyBackend,
  principal: PrincipalRecord,
): Promise<{ accessKeyId: string; secretAccessKey: string; createdAt: Date }> {
  const accessKeyId = generateAccessKeyId();
  const secretAccessKey = generateSecretAccessKey();
  const createdAt = new Date();
  const sealedSecret = await backend.sealSecret(Buffer.from(secretAccessKey, 'utf8'));
  await store.transaction(async (tx) => {
    await tx.holdLock(lockNames.principal(principal.arn));
    if (!(await tx.getPrincipal(principal.arn)))
      throw new KmsError('NotFoundException', `The principal with name ${principal.name} cannot be found.`);
    if ((await tx.listAccessKeys(principal.arn)).length >= MAX_ACCESS_KEYS_PER_PRINCIPAL)
      throw new KmsError(
        'LimitExceededException',
        `Cannot exceed quota for AccessKeysPerUser: ${MAX_ACCESS_KEYS_PER_PRINCIPAL}. Delete an access key of ${principal.name} first.`,
      );
    await tx.insertAccessKey({ accessKeyId, principalArn: principal.arn, sealedSecret, createdAt, status: 'Active' });
  });
  return { accessKeyId, secretAccessKey, createdAt };
}

/** Deletes one of the principal's access keys; NotFoundException when it has no such key. */
export async function deleteAccessKey(store: MetadataStore, principal: PrincipalRecord, accessKeyId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const key = await tx.getAccessKey(accessKeyId);
    if (!key || key.principalArn !== principal.arn)
      throw new KmsError('NotFoundException', `The access key with id ${callerText(accessKeyId, 128)} cannot be found for ${principal.name}.`);
    await tx.deleteAccessKey(accessKeyId);
  });
}

/** Adds or replaces a named identity policy after checking it as IAM would. */
export async function putPrincipalPolicy(store: MetadataStore, principal: PrincipalRecord, policyName: string, document: string): Promise<void> {
  checkPolicyName(policyName);
  if (document.length > MAX_POLICY_DOCUMENT_CHARS)
    throw new KmsError(
      'LimitExceededException',
      `The policy document is ${document.length} characters; an identity policy may hold at most ${MAX_POLICY_DOCUMENT_CHARS}.`,
    );
  parseIdentityPolicy(document);
  const now = new Date();
  await store.transaction(async (tx) => {
    await tx.holdLock(lockNames.principal(principal.arn));
    if (!(await tx.getPrincipal(principal.arn)))
      throw new KmsError('NotFoundException', `The principal with name ${principal.name} cannot be found.`);
    const existing = await tx.listPrincipalPolicies(principal.arn);
    if (!existing.some((p) => p.policyName === policyName) && existing.length >= MAX_POLICIES_PER_PRINCIPAL)
      throw new KmsError(
        'LimitExceededException',
        `Cannot exceed quota for PoliciesPerUser: ${MAX_POLICIES_PER_PRINCIPAL}. Delete a policy of ${principal.name} first.`,
      );
    await tx.putPrincipalPolicy({ principalArn: principal.arn, policyName, document, createdAt: now, updatedAt: now });
  });
}

export async function deletePrincipalPolicy(store: MetadataStore, principal: PrincipalRecord, policyName: string): Promise<void> {
  checkPolicyName(policyName);
  if (!(await store.deletePrincipalPolicy(principal.arn, policyName)))
    throw new KmsError('NotFoundException', `The policy with name ${policyName} cannot be found for ${principal.name}.`);
}

/** Tag keys and values with IAM's limits; tag keys starting `aws:` are reserved, as in IAM. */
export function checkTags(tags: Tag[]): void {
  if (tags.length > MAX_PRINCIPAL_TAGS)
    throw new KmsError('LimitExceededException', `A principal may have at most ${MAX_PRINCIPAL_TAGS} tags.`);
  for (const { TagKey, TagValue } of tags) {
    if (typeof TagKey !== 'string' || TagKey.length < 1 || TagKey.length > 128)
      throw new KmsError('ValidationException', 'Tag keys must be 1 to 128 characters.');
    if (typeof TagValue !== 'string' || TagValue.length > 256) throw new KmsError('ValidationException', 'Tag values must be at most 256 characters.');
    if (TagKey.toLowerCase().startsWith('aws:')) throw new KmsError('ValidationException', `Tag keys starting with aws: are reserved (${callerText(TagKey, 128)}).`);
  }
}

/** Everything `principal get` shows: never a secret. */
export interface PrincipalDetails {
  principal: PrincipalRecord;
  policies: IdentityPolicyRecord[];
  accessKeys: AccessKeySummary[];
  tags: Tag[];
  ownedKeyCount: number;
}

export async function principalDetails(store: MetadataStore, principal: PrincipalRecord): Promise<PrincipalDetails> {
  const [policies, accessKeys, authorization, ownedKeyCount] = await Promise.all([
    store.listPrincipalPolicies(principal.arn),
    store.listAccessKeys(principal.arn),
    store.getPrincipalAuthorization(principal.arn),
    store.countKeysOwnedBy(principal.arn),
  ]);
  return { principal: authorization?.principal ?? principal, policies, accessKeys, tags: authorization?.tags ?? [], ownedKeyCount };
}
