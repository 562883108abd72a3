/**
 * ImportKeyMaterial: unwraps customer material into the HSM with the wrapping key named by the
 * ImportToken. A key that had material before accepts only that same material again
 * (IncorrectKeyMaterialException otherwise), checked in the HSM against the KeyMaterialId
 * (see imported-material-id.ts), which is reused so old ciphertexts keep decrypting.
 */
import { BackendError, KmsError } from '../errors.js';
import { materialId } from '../key-metadata.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import { EXPIRATION_MODELS, type KeyMaterialVersion } from '../model.js';
import { invalidToken, readImportToken } from '../import-token.js';
import type { JsonObject, Operation } from '../operation.js';
import { optionalEnum, requiredBlob, requiredKeyId } from '../validation.js';
import { importedMaterialId, matchesImportedMaterialId } from './imported-material-id.js';
import { updateKeyRecord } from './key-updates.js';

const MAX_VALID_TO_MS = 365 * 24 * 60 * 60 * 1000;

function optionalTimestamp(input: JsonObject, field: string): Date | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  const date = typeof value === 'number' ? new Date(value * 1000) : undefined;
  // A number past JavaScript's date range (±8.64e12 s) is an Invalid Date, which compares false with everything.
  if (date === undefined || Number.isNaN(date.getTime()))
    throw new KmsError('SerializationException', `Field '${field}' must be a timestamp (epoch seconds).`);
  return date;
}

export const importKeyMaterial: Operation = {
  name: 'ImportKeyMaterial',
  async run(deps, ctx, input) {
    const keyIdValue = requiredKeyId(input);
    const token = requiredBlob(input, 'ImportToken', { min: 1, max: 6144 });
    const encryptedMaterial = requiredBlob(input, 'EncryptedKeyMaterial', { min: 1, max: 6144 });
    const validTo = optionalTimestamp(input, 'ValidTo');
    const expirationModel = optionalEnum(input, 'ExpirationModel', EXPIRATION_MODELS) ?? (validTo ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE');
    const now = deps.clock.now();
    if (expirationModel === 'KEY_MATERIAL_EXPIRES') {
      // AWS KMS's words (recorded ImportKeyMaterial answer, LocalStack's test_import_key_symmetric).
      if (!validTo) throw new KmsError('ValidationException', 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES');
      if (validTo.getTime() <= now.getTime() || validTo.getTime() > now.getTime() + MAX_VALID_TO_MS)
        throw new KmsError('ValidationException', 'ValidTo must be in the future and at most 365 days from now.');
    } else if (validTo) {
      throw new KmsError('ValidationException', 'ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.');
    }

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (key.origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    if (!['PendingImport', 'Enabled', 'Disabled'].includes(key.keyState))
      throw new KmsError('KMSInvalidStateException', `${key.arn} is ${key.keyState === 'PendingDeletion' ? 'pending deletion' : key.keyState}.`);

    const claims = await readImportToken(deps.backend, token);
    if (claims.keyId !== key.keyId) throw invalidToken();
    if (claims.expiresAt.getTime() <= now.getTime())
      throw new KmsError('ExpiredImportTokenException', 'The import token has expired; call GetParametersForImport for a new one.');
    const record = await deps.store.getImportToken(claims.tokenId);
    if (!record || record.keyId !== key.keyId) throw invalidToken();

    await deps.authorizer.authorize({
      principal: ctx.principal,
      action: 'kms:ImportKeyMaterial',
      key,
      context: {
        'kms:ExpirationModel': expirationModel,
        'kms:ValidTo': validTo ? String(Math.floor(validTo.getTime() / 1000)) : undefined,
        'kms:WrappingAlgorithm': record.wrappingAlgorithm,
      },
    });

    const wrappingRef = { id: `import-token/${record.tokenId}`, keySpec: record.wrappingKeySpec, wrapped: record.wrappedPrivateKey };
    let imported;
    try {
      imported = await deps.backend.importKeyMaterial(wrappingRef, record.wrappingAlgorithm, encryptedMaterial, key.keySpec);
    } catch (err) {
      if (err instanceof BackendError && err.kind === 'data')
        throw new KmsError('InvalidCiphertextException', 'The encrypted key material could not be unwrapped with this import token\'s wrapping key and algorithm.');
      throw err;
    } finally {
      deps.backend.forget(wrappingRef.id);
    }

    const checkRef = { id: `import-check/${record.tokenId}/${now.getTime()}`, keySpec: key.keySpec, wrapped: imported.wrapped };
    let versionId: string;
    try {
      const material = { ref: checkRef, publicKey: imported.publicKey };
      if (key.currentVersionId !== undefined) {
        if (!(await matchesImportedMaterialId(deps.backend, key, material, key.currentVersionId)))
          throw new KmsError('IncorrectKeyMaterialException', `The key material does not match the material previously imported into ${key.arn}.`);
        versionId = key.currentVersionId;
      } else {
        versionId = await importedMaterialId(deps.backend, key, material);
      }
    } finally {
      deps.backend.forget(checkRef.id);
    }

    const version: KeyMaterialVersion = {
      keyId: key.keyId,
      versionId,
      createdAt: now,
      wrappedMaterial: imported.wrapped,
      publicKey: imported.publicKey,
    };
    await updateKeyRecord(deps, key.keyId, async (current, tx) => {
      if (current.currentVersionId !== key.currentVersionId || !['PendingImport', 'Enabled', 'Disabled'].includes(current.keyState))
        throw new KmsError('KMSInvalidStateException', `${key.arn} changed while its key material was being imported; retry the request.`);
      if (!(await tx.getKeyVersion(key.keyId, versionId))) await tx.insertKeyVersion(version);
      return {
        ...current,
        keyState: current.keyState === 'PendingImport' ? 'Enabled' : current.keyState,
        currentVersionId: versionId,
        expirationModel,
        validTo: expirationModel === 'KEY_MATERIAL_EXPIRES' ? validTo : undefined,
      };
    });
    deps.backend.forget(materialId(key.keyId, versionId));
    return { KeyId: key.arn, KeyMaterialId: versionId };
  },
};
