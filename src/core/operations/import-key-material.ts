/**
 * ImportKeyMaterial: unwraps customer material into the HSM with the wrapping key named by the
 * ImportToken. ImportType EXISTING_KEY_MATERIAL (the default once a key has material) reimports
 * material the key had: it must match one of its KeyMaterialIds (the one given, or any), checked
 * in the HSM (see imported-material-id.ts), and that id is reused so old ciphertexts keep
 * decrypting. NEW_KEY_MATERIAL (the default for a key's first import) into a symmetric encryption
 * key that has material already stages it as PENDING_ROTATION for RotateKeyOnDemand
 * (imported-materials.ts).
 */
import { BackendError, KmsError } from '../errors.js';
import { materialId } from '../key-metadata.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import { EXPIRATION_MODELS, type ImportedKeyMaterial, type KeyMaterialVersion } from '../model.js';
import { invalidToken, readImportToken } from '../import-token.js';
import type { JsonObject, Operation } from '../operation.js';
import { KEY_MATERIAL_ID_RULE, optionalEnum, optionalString, requiredBlob, requiredKeyId } from '../validation.js';
import { importedMaterialId, matchesImportedMaterialId } from './imported-material-id.js';
import {
  IMPORT_TYPES,
  KEY_MATERIAL_DESCRIPTION_RULE,
  importedMaterialsOf,
  keyExpiration,
  multiRegionImportedRotationUnsupported,
  rotatesImportedMaterial,
} from './imported-materials.js';
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
    // AWS KMS's default (API reference; LocalStack's recorded answers agree): material expires, so
    // ValidTo is required unless the caller says KEY_MATERIAL_DOES_NOT_EXPIRE.
    const expirationModel = optionalEnum(input, 'ExpirationModel', EXPIRATION_MODELS) ?? 'KEY_MATERIAL_EXPIRES';
    const importTypeInput = optionalEnum(input, 'ImportType', IMPORT_TYPES);
    const keyMaterialId = optionalString(input, 'KeyMaterialId', KEY_MATERIAL_ID_RULE);
    const description = optionalString(input, 'KeyMaterialDescription', KEY_MATERIAL_DESCRIPTION_RULE);
    const now = deps.clock.now();
    if (expirationModel === 'KEY_MATERIAL_EXPIRES') {
      // AWS KMS's words (recorded ImportKeyMaterial answer, LocalStack's test_import_key_symmetric).
      if (!validTo) throw new KmsError('ValidationException', 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES');
      if (validTo.getTime() <= now.getTime() || validTo.getTime() > now.getTime() + MAX_VALID_TO_MS)
        throw new KmsError('ValidationException', 'ValidTo must be in the future and at most 365 days from now.');
    } else if (validTo) {
      throw new KmsError('ValidationException', 'ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.');
    }
    if (importTypeInput === 'NEW_KEY_MATERIAL' && keyMaterialId !== undefined)
      throw new KmsError('ValidationException', 'KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.');

    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdValue);
    if (key.origin !== 'EXTERNAL')
      throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
    if (!['PendingImport', 'Enabled', 'Disabled'].includes(key.keyState))
      throw new KmsError('KMSInvalidStateException', `${key.arn} is ${key.keyState === 'PendingDeletion' ? 'pending deletion' : key.keyState}.`);
    // AWS: only symmetric encryption keys take these parameters; an asymmetric or HMAC key has one material, ever.
    if (key.keySpec !== 'SYMMETRIC_DEFAULT' && (importTypeInput !== undefined || keyMaterialId !== undefined || description !== undefined))
      throw new KmsError(
        'ValidationException',
        `ImportType, KeyMaterialId and KeyMaterialDescription are valid only for symmetric encryption keys; ${key.arn} is ${key.keySpec}.`,
      );
    const importType = importTypeInput ?? (key.currentVersionId === undefined ? 'NEW_KEY_MATERIAL' : 'EXISTING_KEY_MATERIAL');
    if (importType === 'EXISTING_KEY_MATERIAL' && key.currentVersionId === undefined)
      throw new KmsError('IncorrectKeyMaterialException', `No key material has been imported into ${key.arn} yet; import it with ImportType NEW_KEY_MATERIAL.`);
    const staged = importType === 'NEW_KEY_MATERIAL' && key.currentVersionId !== undefined;
    if (staged && !rotatesImportedMaterial(key)) throw multiRegionImportedRotationUnsupported(key);

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

    const materials = await importedMaterialsOf(deps.store, key);
    if (keyMaterialId !== undefined && !materials.some((m) => m.versionId === keyMaterialId))
      throw new KmsError('IncorrectKeyMaterialException', `Key material ${keyMaterialId} is not associated with ${key.arn}.`);
    if (staged && materials.some((m) => m.pendingRotation))
      throw new KmsError(
        'KMSInvalidStateException',
        `${key.arn} already has key material in PENDING_ROTATION state; rotate to it with RotateKeyOnDemand or delete it with DeleteImportedKeyMaterial first.`,
      );

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
      // Checked against every material the key has (the current one first): EXISTING must match
      // one, NEW must match none. Each check is one HSM operation; a key has at most 27 materials.
      const candidates = keyMaterialId !== undefined ? [keyMaterialId] : [key.currentVersionId, ...materials.map((m) => m.versionId)];
      let matched: string | undefined;
      for (const candidate of new Set(candidates)) {
        if (candidate !== undefined && (await matchesImportedMaterialId(deps.backend, key, material, candidate))) {
          matched = candidate;
          break;
        }
      }
      if (importType === 'EXISTING_KEY_MATERIAL') {
        if (matched === undefined)
          throw new KmsError(
            'IncorrectKeyMaterialException',
            keyMaterialId === undefined
              ? `The key material does not match the material previously imported into ${key.arn}.`
              : `The key material does not match key material ${keyMaterialId} of ${key.arn}.`,
          );
        versionId = matched;
      } else {
        if (matched !== undefined)
          throw new KmsError(
            'IncorrectKeyMaterialException',
            `ImportType is NEW_KEY_MATERIAL but this key material is already associated with ${key.arn} (KeyMaterialId ${matched}).`,
          );
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
      const known = await importedMaterialsOf(tx, current);
      const previous = known.find((m) => m.versionId === versionId);
      if (importType === 'EXISTING_KEY_MATERIAL' ? !previous : previous || (staged && known.some((m) => m.pendingRotation)))
        throw new KmsError('KMSInvalidStateException', `${key.arn} changed while its key material was being imported; retry the request.`);
      if (!(await tx.getKeyVersion(key.keyId, versionId))) await tx.insertKeyVersion(version);
      const updated: ImportedKeyMaterial = {
        ...(previous ?? { keyId: key.keyId, versionId, pendingRotation: staged, importedAt: now }),
        description: description ?? previous?.description,
        expirationModel,
        validTo: expirationModel === 'KEY_MATERIAL_EXPIRES' ? validTo : undefined,
      };
      await tx.putImportedMaterial(updated);
      const after = [...known.filter((m) => m.versionId !== versionId), updated];
      const present = new Set((await tx.listKeyVersions(key.keyId)).map((v) => v.versionId));
      // AWS: the key is usable once every permanently associated material is imported again.
      const complete = after.every((m) => m.pendingRotation || present.has(m.versionId));
      return {
        ...current,
        keyState: current.keyState === 'PendingImport' && complete ? 'Enabled' : current.keyState,
        currentVersionId: current.currentVersionId ?? versionId,
        ...keyExpiration(after),
      };
    });
    deps.backend.forget(materialId(key.keyId, versionId));
    return { KeyId: key.arn, KeyMaterialId: versionId };
  },
};
