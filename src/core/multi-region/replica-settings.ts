/**
 * What a replica key is made of besides its material, as the primary's deployment sends it — to
 * HsmKms.ImportReplica, and (from this version on) already to HsmKms.PrepareReplica as its
 * `Replica` member, so that the replica exists here in KeyState `Creating` while its material is on
 * its way. Both read and check it the same way, and authorize it as `hsmkms:ImportReplica`.
 */
import { PEER_REGION_CONTEXT } from '../authorization/peer-region.js';
import { KmsError } from '../errors.js';
import { keyArn, requireUsageForSpec } from '../key-resolver.js';
import { KEY_USAGES, type KeyRecord, type KeySpec, type KeyUsage, type Tag } from '../model.js';
import type { JsonObject, KmsDeps, RequestContext } from '../operation.js';
import type { AuthorizationRequest } from '../ports.js';
import { defaultKeyPolicy } from '../policy/default-policy.js';
import { checkPolicyLockout } from '../policy/lockout-check.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { checkTagCount, parseTags, tagConditions } from '../operations/tag-rules.js';
import { optionalBoolean, optionalInteger, optionalString, POLICY_RULE, requiredEnum, requiredString, requiredStringList } from '../validation.js';
import { REGION_RULE, type MultiRegionKeyRecord } from './model.js';

export interface ReplicaSettings {
  keyUsage: KeyUsage;
  primaryRegion: string;
  /** The set's other regions that hold the key (the primary's record, `Active` ones). */
  regions: string[];
  creationDate: Date;
  rotationPeriodInDays?: number | undefined;
  description: string;
  policy: string;
  tags: Tag[];
}

/**
 * Reads and checks the replica's settings in `input`. The caller authorizes them with
 * {@link replicaAuthorization}, together with its call's other actions.
 */
export function readReplicaSettings(deps: KmsDeps, ctx: RequestContext, input: JsonObject, keyId: string, keySpec: KeySpec): ReplicaSettings {
  const keyUsage = requiredEnum(input, 'KeyUsage', KEY_USAGES);
  const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
  const regions = requiredStringList(input, 'Regions', { max: 32, member: REGION_RULE });
  const creationSeconds = optionalInteger(input, 'CreationDate', 0, 32_503_680_000) ?? Math.floor(deps.clock.now().getTime() / 1000);
  const rotationPeriodInDays = optionalInteger(input, 'RotationPeriodInDays', 90, 2560);
  const description = optionalString(input, 'Description', { min: 0, max: 8192 }) ?? '';
  const policyText = optionalString(input, 'Policy', POLICY_RULE);
  const bypassLockout = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
  const tags = parseTags(input, 'Tags');
  checkTagCount([], tags);
  requireUsageForSpec(keySpec, keyUsage);
  if (primaryRegion === deps.settings.region)
    throw new KmsError('ValidationException', `The primary key of ${keyId} cannot be replicated into its own region ${primaryRegion}.`);
  const policy = policyText ?? defaultKeyPolicy(deps.settings);
  const parsedPolicy = parsePolicyDocument(policy);
  if (policyText !== undefined && !bypassLockout)
    checkPolicyLockout(parsedPolicy, { principalArn: ctx.principal.arn, accountId: deps.settings.accountId, partition: deps.settings.partition });
  return { keyUsage, primaryRegion, regions, creationDate: new Date(creationSeconds * 1000), rotationPeriodInDays, description, policy, tags };
}

/** What making a replica with `settings` needs: `hsmkms:ImportReplica`. */
export function replicaAuthorization(ctx: RequestContext, keySpec: KeySpec, settings: ReplicaSettings): AuthorizationRequest {
  const { keyUsage, primaryRegion, tags } = settings;
  return {
    principal: ctx.principal,
    action: 'hsmkms:ImportReplica',
    // Only the peer principal of the primary's region makes its replicas (peer-region.ts).
    context: { 'kms:KeySpec': keySpec, 'kms:KeyUsage': keyUsage, 'kms:MultiRegion': 'true', 'kms:PrimaryRegion': primaryRegion, [PEER_REGION_CONTEXT]: primaryRegion, ...tagConditions(tags) },
  };
}

/** This region's record of the set the replica joins (this region `Creating` until its material is here). */
export function replicaSetRecord(deps: KmsDeps, keyId: string, settings: ReplicaSettings, state: 'Creating' | 'Active'): MultiRegionKeyRecord {
  const all = [...new Set([settings.primaryRegion, ...settings.regions, deps.settings.region])];
  return { keyId, primaryRegion: settings.primaryRegion, regions: all.map((region) => ({ region, state: region === deps.settings.region ? state : 'Active' })), updating: false, revision: 1 };
}

/**
 * The replica as it is while its material is on its way (AWS's KeyState `Creating`): no material,
 * no rotation, refused for every cryptographic and most management operations, never due for the
 * scheduler. HsmKms.ImportReplica completes it; HsmKms.AbandonReplica removes it.
 */
export function placeholderKey(deps: KmsDeps, ctx: RequestContext, keyId: string, keySpec: KeySpec, settings: ReplicaSettings): KeyRecord {
  return {
    keyId,
    arn: keyArn(deps.settings, keyId),
    accountId: deps.settings.accountId,
    description: settings.description,
    keySpec,
    keyUsage: settings.keyUsage,
    origin: 'AWS_KMS',
    keyState: 'Creating',
    creationDate: settings.creationDate,
    policy: settings.policy,
    rotationEnabled: false,
    ownerArn: ctx.principal.arn,
    revision: 1,
  };
}

/**
 * Whether `key` is the placeholder of a replica of the primary in `primaryRegion` that `principalArn`
 * recorded (one store read). Only the principal that made it (the primary's peer principal, its
 * owner) may reuse, complete or remove it: every RegionPeer (the peer principal of any other
 * deployment) may call the replica operations, and another one completing it would give the
 * replica, with the primary's policy, material it chose.
 */
export async function isPlaceholderOf(
  deps: Pick<KmsDeps, 'store'>,
  key: KeyRecord,
  keySpec: KeySpec,
  primaryRegion: string,
  principalArn: string,
): Promise<boolean> {
  if (key.keyState !== 'Creating' || key.keySpec !== keySpec || key.ownerArn !== principalArn) return false;
  return (await deps.store.multiRegion.getMultiRegionKey(key.keyId))?.primaryRegion === primaryRegion;
}
