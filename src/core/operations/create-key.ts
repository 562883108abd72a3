/** CreateKey: a new customer managed key, its material generated inside the HSM. */
import { randomBytes, randomUUID } from 'node:crypto';
import { KmsError } from '../errors.js';
import { keyArn, requireUsageForSpec } from '../key-resolver.js';
import { keyMetadata } from '../key-metadata.js';
import { createKeyStoreMaterial } from '../key-stores/keys.js';
import { CreationAbandoned, keyMayExist, recordCreation, settleFailedCreation, withdrawCreation } from '../material-destruction.js';
import { storeForNewKey } from '../key-stores/new-keys.js';
import { multiRegionConfiguration } from '../multi-region/metadata.js';
import type { MultiRegionKeyRecord } from '../multi-region/model.js';
import { replicaTransportOf, type ReplicableMaterial } from '../multi-region/transport.js';
import { KEY_SPECS, KEY_USAGES, ORIGINS, type KeyMaterialVersion, type KeyRecord, type KeySpec } from '../model.js';
import { lockNames } from '../locks.js';
import { DEFAULT_MAX_ED25519_KEYS, type KmsDeps, type KmsSettings, type Operation } from '../operation.js';
import type { MetadataRepository } from '../ports.js';
import { defaultKeyPolicy } from '../policy/default-policy.js';
import { checkPolicyLockout } from '../policy/lockout-check.js';
import { parsePolicyDocument } from '../policy/policy-document.js';
import { StoreError } from '../store-error.js';
import { optionalBoolean, optionalEnum, optionalString, POLICY_RULE } from '../validation.js';
import { newKeyMaterialId } from './key-updates.js';
import { checkTagCount, parseTags, tagConditions } from './tag-rules.js';

export const createKey: Operation = {
  name: 'CreateKey',
  async run(deps, ctx, input) {
    const policyText = optionalString(input, 'Policy', POLICY_RULE);
    const description = optionalString(input, 'Description', { min: 0, max: 8192 }) ?? '';
    const requestedUsage = optionalEnum(input, 'KeyUsage', KEY_USAGES);
    const keySpecField = optionalEnum(input, 'KeySpec', KEY_SPECS);
    const legacySpec = optionalEnum(input, 'CustomerMasterKeySpec', KEY_SPECS);
    const origin = optionalEnum(input, 'Origin', ORIGINS) ?? 'AWS_KMS';
    const customKeyStoreId = optionalString(input, 'CustomKeyStoreId', { min: 1, max: 64 });
    const xksKeyId = optionalString(input, 'XksKeyId', { min: 1, max: 128 });
    const bypassLockout = optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck') ?? false;
    const multiRegion = optionalBoolean(input, 'MultiRegion') ?? false;
    const tags = parseTags(input, 'Tags');

    if (keySpecField !== undefined && legacySpec !== undefined)
      throw new KmsError(
        'ValidationException',
        'You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated; use KeySpec.',
      );
    const keySpec: KeySpec = keySpecField ?? legacySpec ?? 'SYMMETRIC_DEFAULT';
    // AWS: KeyUsage "is optional when you are creating a symmetric encryption KMS key; otherwise,
    // it is required" — and AWS KMS refuses an HMAC or asymmetric KeySpec without it, so a script
    // written against us does not pick up a usage it never asked for.
    if (requestedUsage === undefined && keySpec !== 'SYMMETRIC_DEFAULT')
      throw new KmsError('ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.');
    const keyUsage = requestedUsage ?? 'ENCRYPT_DECRYPT';
    requireUsageForSpec(keySpec, keyUsage);
    const unavailable = deps.backend.keySpecUnavailable(keySpec);
    if (unavailable !== undefined) throw new KmsError('UnsupportedOperationException', unavailable);
    const keyStore = await storeForNewKey(deps, { origin, customKeyStoreId, xksKeyId, keySpec, keyUsage, multiRegion });
    const transport = multiRegion ? replicaTransportOf(deps.backend) : undefined;
    if (multiRegion && !transport)
      throw new KmsError('UnsupportedOperationException', 'This HSM backend cannot move key material between tokens, so it cannot hold multi-Region keys.');
    const unreplicable = transport?.unreplicableSpec(keySpec);
    if (unreplicable !== undefined) throw new KmsError('UnsupportedOperationException', unreplicable);
    if (multiRegion && origin !== 'AWS_KMS' && origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `Multi-Region keys cannot be in a custom key store (Origin ${origin}); use Origin AWS_KMS or EXTERNAL.`);
    if (origin === 'EXTERNAL' && keySpec !== 'SYMMETRIC_DEFAULT')
      throw new KmsError(
        'UnsupportedOperationException',
        `Importing key material is supported for SYMMETRIC_DEFAULT keys only, not ${keySpec}.`,
      );
    checkTagCount([], tags);

    const policy = policyText ?? defaultKeyPolicy(deps.settings);
    const parsedPolicy = parsePolicyDocument(policy);
    if (policyText !== undefined && !bypassLockout)
      checkPolicyLockout(parsedPolicy, {
        principalArn: ctx.principal.arn,
        accountId: deps.settings.accountId,
        partition: deps.settings.partition,
      });

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:CreateKey',
      context: {
        'kms:KeySpec': keySpec,
        'kms:KeyUsage': keyUsage,
        'kms:KeyOrigin': origin,
        'kms:MultiRegion': String(multiRegion),
        'kms:BypassPolicyLockoutSafetyCheck': String(bypassLockout),
        ...tagConditions(tags),
      },
    });

    // Material that is an object of its own in the default store's HSM (the backend says which:
    // Ed25519) is bounded in number: checked before the HSM makes the object, and again, under a
    // lock, where the key is inserted.
    const objectMaterial = !keyStore && deps.backend.materialIsObject(keySpec);
    if (objectMaterial) await requireTokenObjectRoom(deps.store, deps.settings, keySpec);
    const now = deps.clock.now();
    const keyId = multiRegion ? `mrk-${randomBytes(16).toString('hex')}` : randomUUID();
    const key: KeyRecord = {
      keyId,
      arn: keyArn(deps.settings, keyId),
      accountId: deps.settings.accountId,
      description,
      keySpec,
      keyUsage,
      origin,
      keyState: origin === 'EXTERNAL' ? 'PendingImport' : 'Enabled',
      creationDate: now,
      policy,
      rotationEnabled: false,
      ownerArn: ctx.principal.arn,
      revision: 1,
    };
    const caller = { principalArn: ctx.principal.arn, requestId: ctx.requestId, operation: 'CreateKey' };
    const inStore = keyStore ? await createKeyStoreMaterial(deps, key, keyStore, newKeyMaterialId(), xksKeyId, caller) : undefined;
    // A multi-Region key's material is also wrapped for transfer to its replicas (multi-region/transport.ts).
    const replicable: ReplicableMaterial | undefined = transport && origin === 'AWS_KMS' ? await transport.generateReplicableMaterial(keySpec, keyUsage) : undefined;
    const version = inStore?.version ?? (origin === 'AWS_KMS' ? await generateFirstVersion(deps, key, now, replicable) : undefined);
    if (version) key.currentVersionId = version.versionId;
    const regionSet: MultiRegionKeyRecord | undefined = multiRegion
      ? { keyId, primaryRegion: deps.settings.region, regions: [{ region: deps.settings.region, state: 'Active' }], updating: false, revision: 1 }
      : undefined;

    // Material that is a token object of its own (EdDSA) has its destruction recorded first, and
    // the transaction withdraws it (material-destruction.ts): a commit reported failed that landed
    // after all keeps the key's only material, one that did not leaves no object behind for good.
    const destruction = version && !inStore ? await recordCreation(deps, key, version, now) : undefined;

    // The HSM step is done; everything the client can see lands in one transaction, so a
    // failure here leaves only a wrapped blob that nothing references (or, in a custom key
    // store, a token object that is destroyed again).
    try {
      await deps.store.transaction(async (tx) => {
        if (objectMaterial) {
          await tx.holdLock(lockNames.ed25519Keys());
          await requireTokenObjectRoom(tx, deps.settings, keySpec);
        }
        if (destruction) await withdrawCreation(tx, destruction);
        await tx.insertKey(key);
        if (version) await tx.insertKeyVersion(version);
        if (keyStore) await tx.keyStores.insertKeyStoreKey({ keyId, customKeyStoreId: keyStore.customKeyStoreId, xksKeyId });
        if (tags.length > 0) await tx.putTags(keyId, tags);
        // Imported material (EXTERNAL) does not travel: each region imports it (multi-region/import-replica.ts).
        if (regionSet) await tx.multiRegion.insertMultiRegionKey(regionSet);
        if (regionSet && version && replicable)
          await tx.multiRegion.insertTransferMaterial({ keyId, versionId: version.versionId, transferWrapped: replicable.transferWrapped });
      });
    } catch (error) {
      // A custom key store's token object is the key's only material too: it is undone only when
      // the store confirms the key does not exist, never under a key whose commit landed although
      // it was reported failed. When the store cannot say, it stays, and the log names it.
      if (inStore && keyStore) {
        if (!(await keyMayExist(deps, keyId))) await inStore.undo().catch(() => undefined);
        else if (!(error instanceof CreationAbandoned))
          deps.logger?.warn(
            { keyId, customKeyStoreId: keyStore.customKeyStoreId },
            "CreateKey's transaction was reported failed, and the store did not confirm that the key does not exist (its commit may have landed): its key material in the custom key store was kept",
          );
      }
      // Destroyed only once the store confirms the key does not exist; otherwise left to the scheduler.
      if (destruction) await settleFailedCreation(deps, destruction);
      if (error instanceof CreationAbandoned)
        throw new KmsError('KMSInternalException', 'The key material was given up before the key could be recorded; no key was created. Try again.');
      // Two CreateKey calls raced for one external key; the database let one through.
      if (xksKeyId !== undefined && error instanceof StoreError && error.kind === 'conflict' && error.record === 'custom-key-store-key')
        throw new KmsError('XksKeyAlreadyInUseException', `The external key ${xksKeyId} already backs another KMS key in this custom key store.`);
      throw error;
    }
    const location = keyStore && {
      customKeyStoreId: keyStore.customKeyStoreId,
      cloudHsmClusterId: keyStore.type === 'AWS_CLOUDHSM' ? keyStore.cloudHsmClusterId : undefined,
      xksKeyId,
      connected: true,
    };
    return { KeyMetadata: keyMetadata(key, location, regionSet && multiRegionConfiguration(deps.settings, regionSet)) };
  },
};

/**
 * LimitExceededException once the deployment holds its most keys of `spec`, a spec whose material
 * is an object of its own in the HSM (ECC_NIST_EDWARDS25519; pending deletion ones included: their
 * objects remain).
 */
async function requireTokenObjectRoom(store: Pick<MetadataRepository, 'countKeys'>, settings: KmsSettings, spec: KeySpec): Promise<void> {
  const max = settings.maxEd25519Keys ?? DEFAULT_MAX_ED25519_KEYS;
  const held = await store.countKeys(spec);
  if (held >= max)
    throw new KmsError(
      'LimitExceededException',
      `This service already holds ${held} ${spec} keys, the most it allows (${max}): each is an object of its own in the HSM. ` +
        'Keys pending deletion count until they are deleted; the operator can raise the limit with --max-ed25519-keys.',
    );
}

async function generateFirstVersion(deps: KmsDeps, key: KeyRecord, now: Date, generated?: ReplicableMaterial): Promise<KeyMaterialVersion> {
  const material = generated ?? (await deps.backend.generateKeyMaterial(key.keySpec, key.keyUsage));
  return {
    keyId: key.keyId,
    versionId: newKeyMaterialId(),
    createdAt: now,
    wrappedMaterial: material.wrapped,
    publicKey: material.publicKey,
  };
}
