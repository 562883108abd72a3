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
 *
 * When PrepareReplica was sent the replica's settings (`Replica`), the replica is here already in
 * KeyState `Creating` (a placeholder without material): this completes it, in one transaction,
 * keeping its policy and tags.
 */
import { KmsError } from '../errors.js';
import { keyMetadata } from '../key-metadata.js';
import { KEY_SPECS, type KeyRecord } from '../model.js';
import type { Operation } from '../operation.js';
import { KEY_MATERIAL_ID_RULE, optionalEnum, requiredEnum, requiredString } from '../validation.js';
import { multiRegionConfiguration } from './metadata.js';
import { MULTI_REGION_KEY_ID } from './model.js';
import { isPlaceholderOf, placeholderKey, readReplicaSettings, replicaAuthorization, replicaSetRecord } from './replica-settings.js';
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
    const arriving = imported ? [] : parseVersions(input, 'Versions');
    const currentVersionId = requiredString(input, 'CurrentKeyMaterialId', KEY_MATERIAL_ID_RULE);
    if (imported && keySpec !== 'SYMMETRIC_DEFAULT') throw new KmsError('UnsupportedOperationException', `Importing key material is supported for SYMMETRIC_DEFAULT keys only, not ${keySpec}.`);
    if (!imported && !arriving.some((v) => v.versionId === currentVersionId)) throw new KmsError('ValidationException', `CurrentKeyMaterialId ${currentVersionId} is not among the Versions sent.`);
    const settings = readReplicaSettings(deps, ctx, input, keyId, keySpec);
    await deps.authorizer.authorize(replicaAuthorization(ctx, keySpec, settings));
    // The replica may be here already as a placeholder (`Creating`) that PrepareReplica made: completed below.
    const here = await deps.store.getKey(keyId);
    const placeholder = here && !imported && (await isPlaceholderOf(deps, here, keySpec, settings.primaryRegion, ctx.principal.arn)) ? here : undefined;
    if (here && !placeholder) throw new KmsError('AlreadyExistsException', `A key with the id ${keyId} already exists in ${deps.settings.region}.`);
    const arrived = transportKeyId && hash ? await unwrapArriving(deps, keyId, keySpec, transportKeyId, hash, arriving, settings.keyUsage) : [];

    const key: KeyRecord = {
      ...placeholderKey(deps, ctx, keyId, keySpec, settings),
      origin,
      keyState: imported ? 'PendingImport' : 'Enabled',
      // A placeholder keeps the policy it has (the one sent, or what PutKeyPolicy made of it since).
      policy: placeholder?.policy ?? settings.policy,
      // Rotation is shared: the primary's scheduler rotates and sends the new material here (a
      // replica has no schedule of its own).
      rotationEnabled: !imported && settings.rotationPeriodInDays !== undefined,
      rotationPeriodInDays: imported ? undefined : settings.rotationPeriodInDays,
      currentVersionId,
      ownerArn: placeholder?.ownerArn ?? ctx.principal.arn,
      revision: placeholder ? placeholder.revision + 1 : 1,
    };
    const record = replicaSetRecord(deps, keyId, settings, 'Active');
    await deps.store.transaction(async (tx) => {
      if (placeholder) {
        const set = await tx.multiRegion.getMultiRegionKey(keyId);
        // Removed (HsmKms.AbandonReplica) or changed meanwhile: nothing is written (thrown inside the
        // transaction), and the primary tries again.
        if (!set || !(await tx.updateKey(key)) || !(await tx.multiRegion.updateMultiRegionKey({ ...record, revision: set.revision + 1 })))
          throw new KmsError('KMSInternalException', `The replica ${key.arn} being created changed meanwhile; try again.`);
      } else {
        await tx.insertKey(key);
        await tx.multiRegion.insertMultiRegionKey(record);
        if (settings.tags.length > 0) await tx.putTags(keyId, settings.tags);
      }
      for (const { version, transferWrapped } of arrived) {
        await tx.insertKeyVersion(version);
        await tx.multiRegion.insertTransferMaterial({ keyId, versionId: version.versionId, transferWrapped });
      }
    });
    return {
      ReplicaKeyMetadata: keyMetadata(key, undefined, multiRegionConfiguration(deps.settings, record)),
      ReplicaPolicy: key.policy,
      ReplicaTags: placeholder ? await deps.store.getTags(keyId) : settings.tags,
    };
  },
};
