/**
 * ListKeyRotations: the key's completed rotations (oldest first); with IncludeKeyMaterial
 * ALL_KEY_MATERIAL also the original material.
 */
import { KmsError } from '../errors.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { KeyMaterialVersion, KeyRecord } from '../model.js';
import type { JsonObject, Operation } from '../operation.js';
import { epochSeconds, optionalEnum, requiredKeyId } from '../validation.js';
import { pageOf, pagingFields, parsePaging } from './key-updates.js';

const INCLUDE = ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'] as const;

export const listKeyRotations: Operation = {
  name: 'ListKeyRotations',
  async run(deps, ctx, input) {
    const keyIdInput = requiredKeyId(input);
    const include = optionalEnum(input, 'IncludeKeyMaterial', INCLUDE) ?? 'ROTATIONS_ONLY';
    const { limit, marker } = parsePaging(input, 1000, 100);
    const key = await resolveKeyIdOrArn(deps.store, deps.settings, keyIdInput);
    if (key.keySpec !== 'SYMMETRIC_DEFAULT')
      throw new KmsError(
        'UnsupportedOperationException',
        `${key.arn} is a ${key.keySpec} key; only symmetric encryption keys have rotations.`,
      );
    await deps.authorizer.authorize({ principal: ctx.principal, action: 'kms:ListKeyRotations', key, context: {} });
    const versions = await deps.store.listKeyVersions(key.keyId);
    const listed = include === 'ALL_KEY_MATERIAL' ? versions : versions.filter((v) => v.rotationType !== undefined);
    const { page, nextMarker } = pageOf(listed, limit, marker);
    return { Rotations: page.map((v) => rotationEntry(key, v)), ...pagingFields(nextMarker) };
  },
};

function rotationEntry(key: KeyRecord, version: KeyMaterialVersion): JsonObject {
  const entry: JsonObject = {
    KeyId: key.keyId,
    KeyMaterialId: version.versionId,
    KeyMaterialState: version.versionId === key.currentVersionId ? 'CURRENT' : 'NON_CURRENT',
  };
  if (version.rotationType !== undefined) {
    entry.RotationDate = epochSeconds(version.createdAt);
    entry.RotationType = version.rotationType;
  }
  if (key.origin === 'EXTERNAL') {
    entry.ImportState = 'IMPORTED';
    if (key.expirationModel) entry.ExpirationModel = key.expirationModel;
    if (key.validTo) entry.ValidTo = epochSeconds(key.validTo);
  }
  return entry;
}
