/**
 * DeleteImportedKeyMaterial: removes the imported material (the key becomes PendingImport) but
 * keeps its KeyMaterialId, as AWS does, so only the same material can be imported again and
 * ciphertexts made before keep decrypting after that reimport.
 */
import { KmsError } from '../errors.js';
import { materialId } from '../key-metadata.js';
import { requireNotPendingDeletion, resolveKeyIdOrArn } from '../key-resolver.js';
import type { Operation } from '../operation.js';
import { requiredKeyId } from '../validation.js';
import { updateKeyRecord } from './key-updates.js';

export const deleteImportedKeyMaterial: Operation = {
  name: 'DeleteImportedKeyMaterial',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (key.origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    requireNotPendingDeletion(key);

    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:DeleteImportedKeyMaterial', key, context: {} });

    let removed: string[] = [];
    const updated = await updateKeyRecord(deps, key.keyId, async (current, tx) => {
      requireNotPendingDeletion(current);
      removed = (await tx.listKeyVersions(current.keyId)).map((v) => v.versionId);
      await tx.deleteKeyVersions(current.keyId);
      return { ...current, keyState: 'PendingImport', expirationModel: undefined, validTo: undefined };
    });
    // Handles go only after the versions are gone from the store, so no request can re-create them.
    for (const versionId of removed) deps.backend.forget(materialId(key.keyId, versionId));
    return {
      KeyId: key.arn,
      ...(updated.currentVersionId ? { KeyMaterialId: updated.currentVersionId } : {}),
    };
  },
};
