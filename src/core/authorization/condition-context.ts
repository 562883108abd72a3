/**
 * The condition context of one authorization: the global `aws:` keys from the call and the
 * caller, the `kms:` keys every key operation has (from the key record), and the keys the
 * operation passed for itself (encryption context, algorithms, tags in the request …), which
 * win over anything derived here.
 *
 * Key tags (`aws:ResourceTag/…`) and aliases (`kms:ResourceAliases`) cost a store read, so they
 * are loaded only when a policy that applies to the request mentions them.
 */
import type { KeyRecord, Tag } from '../model.js';
import type { JsonObject, KmsDeps, RequestContext } from '../operation.js';
import type { CompiledPolicy } from '../policy/index.js';

/** Condition keys and values, as the evaluator takes them. */
export type MutableContext = Record<string, string | readonly string[] | undefined>;

/** Who is asking, as authorization sees it (fresh from the store, not the credential cache). */
export interface Subject {
  arn: string;
  name: string;
  accountId: string;
  isRoot: boolean;
  /** A user's unique id (`AIDA…`); the root's `aws:userid` is the account id. */
  userId?: string | undefined;
  tags: readonly Tag[];
}

/** What the dispatcher knows about the call. */
export interface CallFacts {
  ctx: Pick<RequestContext, 'sourceIp' | 'userAgent' | 'secureTransport'>;
  input: JsonObject;
  now: Date;
}

/** Node reports IPv4 clients of a dual-stack socket as `::ffff:a.b.c.d`; IAM compares the IPv4 form. */
export function normaliseSourceIp(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice('::ffff:'.length) : ip;
}

/**
 * The actions `kms:RequestAlias` is set for, as AWS documents it: the cryptographic operations,
 * DescribeKey and GetPublicKey. Alias management (CreateAlias, UpdateAlias, DeleteAlias) names
 * an alias too, but AWS does not set the key for it, so neither do we.
 */
const REQUEST_ALIAS_ACTIONS: ReadonlySet<string> = new Set([
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:GenerateDataKeyPair',
  'kms:GenerateDataKeyPairWithoutPlaintext',
  'kms:Sign',
  'kms:Verify',
  'kms:GenerateMac',
  'kms:VerifyMac',
  'kms:DeriveSharedSecret',
  'kms:DescribeKey',
  'kms:GetPublicKey',
]);

/** The request member that names the key an action is about (ReEncrypt names two). */
export function keyMemberOf(action: string): string {
  return action === 'kms:ReEncryptFrom' ? 'SourceKeyId' : action === 'kms:ReEncryptTo' ? 'DestinationKeyId' : 'KeyId';
}

/**
 * The alias the request named for the key an action is about (`kms:RequestAlias`): the alias
 * name, also when the caller wrote the alias ARN; undefined for a key id or key ARN, and for
 * actions AWS does not set it for.
 */
export function requestAlias(action: string, input: JsonObject): string | undefined {
  if (!REQUEST_ALIAS_ACTIONS.has(action)) return undefined;
  const value = input[keyMemberOf(action)];
  if (typeof value !== 'string') return undefined;
  if (value.startsWith('alias/')) return value;
  if (value.startsWith('arn:')) {
    const resource = value.split(':').slice(5).join(':');
    if (resource.startsWith('alias/')) return resource;
  }
  return undefined;
}

/** The context every request has, whatever the action. */
export function globalContext(deps: Pick<KmsDeps, 'settings'>, subject: Subject, call: CallFacts): MutableContext {
  const context: MutableContext = {
    'aws:PrincipalArn': subject.arn,
    'aws:PrincipalAccount': subject.accountId,
    'aws:PrincipalType': subject.isRoot ? 'Account' : 'User',
    'aws:CurrentTime': call.now.toISOString(),
    'aws:EpochTime': String(Math.floor(call.now.getTime() / 1000)),
    'aws:SecureTransport': call.ctx.secureTransport === true ? 'true' : 'false',
    'aws:RequestedRegion': deps.settings.region,
    'kms:CallerAccount': subject.accountId,
  };
  if (!subject.isRoot) context['aws:username'] = subject.name;
  // IAM's aws:userid: the account id for the root, the unique id (AIDA…) for a user.
  const userId = subject.isRoot ? subject.accountId : subject.userId;
  if (userId !== undefined) context['aws:userid'] = userId;
  const sourceIp = normaliseSourceIp(call.ctx.sourceIp);
  if (sourceIp !== undefined) context['aws:SourceIp'] = sourceIp;
  if (call.ctx.userAgent !== undefined) context['aws:UserAgent'] = call.ctx.userAgent;
  for (const tag of subject.tags) context[`aws:PrincipalTag/${tag.TagKey}`] = tag.TagValue;
  return context;
}

/** What AWS documents for every operation on a key ("Conditions for KMS key operations"). */
export function keyContext(context: MutableContext, key: KeyRecord): void {
  context['aws:ResourceAccount'] = key.accountId;
  context['kms:KeySpec'] = key.keySpec;
  context['kms:CustomerMasterKeySpec'] = key.keySpec;
  context['kms:KeyUsage'] = key.keyUsage;
  context['kms:CustomerMasterKeyUsage'] = key.keyUsage;
  context['kms:KeyOrigin'] = key.origin;
  context['kms:MultiRegion'] = String(key.keyId.startsWith('mrk-'));
}

/** The operation's own keys over the derived ones; `undefined` values mean "absent". */
export function mergeRequestContext(context: MutableContext, request: Readonly<Record<string, string | readonly string[] | undefined>>): void {
  for (const [name, value] of Object.entries(request)) {
    if (value === undefined) delete context[name];
    else context[name] = value;
  }
}

/** Policy texts scanned, by compiled policy: which lazily loaded keys they mention. */
const mentions = new WeakMap<CompiledPolicy, { tags: boolean; aliases: boolean }>();

/**
 * Whether a policy mentions key tags or key aliases anywhere (a condition key, or a policy
 * variable in a value). Read from the text, so it is conservative: a mention in a Sid costs
 * one extra read, never a wrong decision.
 */
export function policyMentions(policy: CompiledPolicy): { tags: boolean; aliases: boolean } {
  let found = mentions.get(policy);
  if (!found) {
    const text = JSON.stringify(policy.document).toLowerCase();
    found = { tags: text.includes('aws:resourcetag/'), aliases: text.includes('kms:resourcealiases') };
    mentions.set(policy, found);
  }
  return found;
}

/** Whether any of these policies mentions key tags or key aliases (see {@link policyMentions}). */
export function keyResourceNeeds(policies: Iterable<CompiledPolicy>): { tags: boolean; aliases: boolean } {
  let tags = false;
  let aliases = false;
  for (const policy of policies) {
    const m = policyMentions(policy);
    tags ||= m.tags;
    aliases ||= m.aliases;
  }
  return { tags, aliases };
}

/** Adds `aws:ResourceTag/…` and/or `kms:ResourceAliases` for the key, as {@link keyResourceNeeds} said. */
export async function addKeyResourceContext(
  deps: Pick<KmsDeps, 'store'>,
  context: MutableContext,
  key: KeyRecord,
  { tags, aliases }: { tags: boolean; aliases: boolean },
): Promise<void> {
  const [tagList, aliasPage] = await Promise.all([
    tags ? deps.store.getTags(key.keyId) : undefined,
    // A key has at most 50 aliases (alias-rules.ts): one page holds them all.
    aliases ? deps.store.listAliases({ keyId: key.keyId, limit: 100 }) : undefined,
  ]);
  if (tagList) for (const tag of tagList) context[`aws:ResourceTag/${tag.TagKey}`] ??= tag.TagValue;
  if (aliasPage) context['kms:ResourceAliases'] ??= aliasPage.items.map((a) => a.aliasName);
}
