/**
 * HsmKms.ImportReplica — the second half of ReplicateKey, called by the primary's deployment:
 * the key material versions arrive wrapped to the transport key PrepareReplica made (single use),
 * this HSM unwraps them into its own domain, and the replica key is created here with the
 * primary's key id, key spec, usage, origin, material ids and rotation settings, and this
 * region's own policy, tags and description. Answers with ReplicateKey's output members.
 *
 * A key with imported material (`Origin: EXTERNAL`) arrives without material: the replica is
 * created PendingImport with the primary's KeyMaterialId as its current one, so ImportKeyMaterial
 * here accepts only the material imported into the primary (imported-material-id.ts), and a
 * ciphertext made in either region decrypts in the other.
 */
import { KmsError } from '../errors.js';
import { keyArn } from '../key-resolver.js';
import { keyMetadata } from '../key-metadata.js';
import { KEY_SPECS, KEY_USAGES, usagesFor, type KeyRecord } from '../model.js';
import type { Operation } from '../operation.js';
import { defaultKeyPolicy } from '../policy/default-policy.js';
import { checkPolicyLockout } from '../policy/lockout-check.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { checkTagCount, parseTags, tagConditions } from '../operations/tag-rules.js';
import { KEY_MATERIAL_ID_RULE, optionalBoolean, optionalEnum, optionalInteger, optionalString, POLICY_RULE, requiredEnum, requiredString, requiredStringList } from '../validation.js';
import { multiRegionConfiguration } from './metadata.js';
import { MULTI_REGION_KEY_ID, REGION_RULE, type MultiRegionKeyRecord } from './model.js';
import type { TransportHash } from './transport.js';
import { parseVersions, unwrapArriving } from './versions.js';

export const TRANSPORT_HASHES: readonly TransportHash[] = ['SHA_1', 'SHA_256'];
const REPLICA_ORIGINS = ['AWS_KMS', 'EXTERNAL'] as const;

export const importReplica: Operation = {
  name: 'ImportReplica',
  namespace: 'HsmKms',
  async run(deps, ctx, input) {
    const origin = optionalEnum(input, 'Origin', REPLICA_ORIGINS) ?? 'AWS_KMS';
    const imported = origin === 'EXTERNAL';
    if (imported && (input.Versions !== undefined || input.TransportKeyId !== undefined))
      throw new KmsError('ValidationException', 'A replica with Origin EXTERNAL arrives without key material: import the same material into it.');
    const transportKeyId = imported ? undefined : requiredString(input, 'TransportKeyId', { min: 1, max: 64 });
    const hash = imported ? undefined : requiredEnum(input, 'TransportHash', TRANSPORT_HASHES);
    const keyId = requiredString(input, 'KeyId', { min: 1, max: 36, pattern: MULTI_REGION_KEY_ID });
    const keySpec = requiredEnum(input, 'KeySpec', KEY_SPECS);
    const keyUsage = requiredEnum(input, 'KeyUsage', KEY_USAGES);
    const primaryRegion = requiredString(input, 'PrimaryRegion', REGION_RULE);
    const regions = requiredStringList(input, 'Regions', { max: 32, member: REGION_RULE });
    const creationSeconds = optionalInteger(input, 'CreationDate', 0, 32_503_680_000) ?? Math.floor(deps.clock.now().getTime() / 1000);
    const arriving = imported ? [] : parseVersions(input, 'Versions');
    const currentVersionId = requiredString(input, 'CurrentKeyMaterialId', KEY_MATERIAL_ID_RULE);
    const rotationPeriod = optionalInteger(input, 'RotationPeriodInDays', 90, 2560);
    const description = optionalString(input, 'Description', { min: 0, max: 8192 }) ?? '';
    const policyText = optionalString(input, 'Policy', POLICY_RULE);
    const bypassLockout = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
    const tags = parseTags(input, 'Tags');
    checkTagCount([], tags);
    if (!usagesFor(keySpec).includes(keyUsage)) throw new KmsError('ValidationException', `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}.`);
    if (imported && keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', `Importing key material is supported for SYMMETRIC_DEFAULT keys only, not ${keySpec}.`);
    if (!imported && !arriving.some((v) => v.versionId === currentVersionId)) throw new KmsError('ValidationException', `CurrentKeyMaterialId ${currentVersionId} is not among the Versions sent.`);
    if (primaryRegion === deps.settings.region)
      throw new KmsError('ValidationException', `The primary key of ${keyId} cannot be replicated into its own region ${primaryRegion}.`);

    const policy = policyText ?? defaultKeyPolicy(deps.settings);
    const parsedPolicy = parsePolicyDocument(policy);
    if (policyText !== undefined && !bypassLockout)
      checkPolicyLockout(parsedPolicy, { principalArn: ctx.principal.arn, accountId: deps.settings.accountId, partition: deps.settings.partition });
    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'hsmkms:ImportReplica',
      context: { 'kms:KeySpec': keySpec, 'kms:KeyUsage': keyUsage, 'kms:MultiRegion': 'true', 'kms:PrimaryRegion': primaryRegion, ...tagConditions(tags) },
    });
    if (await deps.store.getKey(keyId)) throw new KmsError('AlreadyExistsException', `A key with the id ${keyId} already exists in ${deps.settings.region}.`);
    const arrived = transportKeyId && hash ? await unwrapArriving(deps, keyId, keySpec, transportKeyId, hash, arriving) : [];

    const key: KeyRecord = {
      keyId,
      arn: keyArn(deps.settings, keyId),
      accountId: deps.settings.accountId,
      description,
      keySpec,
      keyUsage,
      origin,
      keyState: imported ? 'PendingImport' : 'Enabled',
      creationDate: new Date(creationSeconds * 1000),
      policy,
      // Rotation is shared: the primary's scheduler rotates and sends the new material here (a
      // replica has no schedule of its own).
      rotationEnabled: !imported && rotationPeriod !== undefined,
      rotationPeriodInDays: imported ? undefined : rotationPeriod,
      currentVersionId,
      ownerArn: ctx.principal.arn,
      revision: 1,
    };
    const all = [...new Set([primaryRegion, ...regions, deps.settings.region])];
    const record: MultiRegionKeyRecord = { keyId, primaryRegion, regions: all.map((region) => ({ region, state: 'Active' as const })), updating: false, revision: 1 };
    await deps.store.transaction(async (tx) => {
      await tx.insertKey(key);
      for (const { version, transferWrapped } of arrived) {
        await tx.insertKeyVersion(version);
        await tx.multiRegion.insertTransferMaterial({ keyId, versionId: version.versionId, transferWrapped });
      }
      await tx.multiRegion.insertMultiRegionKey(record);
      if (tags.length > 0) await tx.putTags(keyId, tags);
    });
    return {
      ReplicaKeyMetadata: keyMetadata(key, undefined, multiRegionConfiguration(deps.settings, record)),
      ReplicaPolicy: policy,
      ReplicaTags: tags,
    };
  },
};
