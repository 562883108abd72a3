/**
 * DeleteImportedKeyMaterial: removes one imported material (KeyMaterialId; by default the
 * current one). A permanently associated material keeps its KeyMaterialId, as AWS does, so only
 * the same material can be imported again and ciphertexts made under it decrypt after that
 * reimport; meanwhile the key is PendingImport. Material still pending rotation is forgotten and
 * leaves the key's state alone (imported-materials.ts). A key pending deletion stays so (AWS: "When
 * the specified KMS key is in the PendingDeletion state, this operation does not change the KMS
 * key's state"): deleting its material is how its holder makes it unusable at once while the
 * deletion waits; CancelKeyDeletion then finds the material missing and makes it PendingImport.
 */
import { KmsError } from '../errors.js';
import { materialId } from '../key-metadata.js';
import { isPendingDeletion, requireNotCreating, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { KEY_MATERIAL_ID_RULE, optionalString, requiredKeyId } from '../validation.js';
import { importedMaterialsOf, removeImportedMaterials } from './imported-materials.js';
import { updateKeyRecord } from './key-updates.js';

export const deleteImportedKeyMaterial: Operation = {
  name: 'DeleteImportedKeyMaterial',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const keyMaterialId = optionalString(input, 'KeyMaterialId', KEY_MATERIAL_ID_RULE);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (key.origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    requireNotCreating(key);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DeleteImportedKeyMaterial', key, context: {} });

    let removed: string | undefined;
    await updateKeyRecord(deps, key.keyId, async (current, tx) => {
      requireNotCreating(current);
      removed = keyMaterialId ?? current.currentVersionId;
      if (removed === undefined) return { ...current, keyState: isPendingDeletion(current) ? current.keyState : 'PendingImport', expirationModel: undefined, validTo: undefined };
      if (keyMaterialId !== undefined && !(await importedMaterialsOf(tx, current)).some((m) => m.versionId === keyMaterialId))
        throw new KmsError('NotFoundException', `Key material ${keyMaterialId} is not associated with ${current.arn}.`);
      return removeImportedMaterials(tx, current, new Set([removed]));
    });
    // The handle goes only after the version is gone from the store, so no request can re-create it.
    if (removed !== undefined) deps.backend.forget(materialId(key.keyId, removed));
    return { KeyId: key.arn, ...(removed !== undefined ? { KeyMaterialId: removed } : {}) };
  },
};
