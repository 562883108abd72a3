/**
 * ListKeyRotations: the key's completed rotations (oldest first); with IncludeKeyMaterial
 * ALL_KEY_MATERIAL also the first material and, for imported keys, material pending rotation.
 */
import { KmsError } from '../errors.js';
import { resolveKeyIdOrArn } from '../key-resolver.js';
import type { ImportedKeyMaterial, KeyMaterialVersion, KeyRecord } from '../model.js';
import type { JsonObject, KmsDeps, Operation } from '../operation.js';
import { epochSeconds, optionalEnum, requiredKeyId } from '../validation.js';
import { importedMaterialsOf, keyMaterialState } from './imported-materials.js';
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
    const entries = key.origin === 'EXTERNAL' ? await importedEntries(deps, key) : await generatedEntries(deps, key);
    const listed = include === 'ALL_KEY_MATERIAL' ? entries : entries.filter((e) => e.RotationType !== undefined);
    const { page, nextMarker } = pageOf(listed, limit, marker);
    return { Rotations: page, ...pagingFields(nextMarker) };
  },
};

async function generatedEntries(deps: KmsDeps, key: KeyRecord): Promise<JsonObject[]> {
  return (await deps.store.listKeyVersions(key.keyId)).map((v: KeyMaterialVersion) => {
    const entry: JsonObject = {
      KeyId: key.keyId,
      KeyMaterialId: v.versionId,
      KeyMaterialState: v.versionId === key.currentVersionId ? 'CURRENT' : 'NON_CURRENT',
    };
    if (v.rotationType !== undefined) {
      entry.RotationDate = epochSeconds(v.createdAt);
      entry.RotationType = v.rotationType;
    }
    return entry;
  });
}

/** First material, then rotations in the order they happened, then material pending rotation. */
async function importedEntries(deps: KmsDeps, key: KeyRecord): Promise<JsonObject[]> {
  const materials = await importedMaterialsOf(deps.store, key);
  const present = new Set((await deps.store.listKeyVersions(key.keyId)).map((v) => v.versionId));
  const rank = (m: ImportedKeyMaterial) => (m.pendingRotation ? Infinity : (m.rotatedAt?.getTime() ?? -Infinity));
  return [...materials].sort((a, b) => rank(a) - rank(b) || a.importedAt.getTime() - b.importedAt.getTime()).map((m) => {
    const entry: JsonObject = { KeyId: key.keyId, KeyMaterialId: m.versionId };
    if (m.description !== undefined) entry.KeyMaterialDescription = m.description;
    entry.ImportState = present.has(m.versionId) ? 'IMPORTED' : 'PENDING_IMPORT';
    entry.KeyMaterialState = keyMaterialState(key, m);
    if (m.expirationModel) entry.ExpirationModel = m.expirationModel;
    if (m.validTo) entry.ValidTo = epochSeconds(m.validTo);
    if (m.rotatedAt && m.rotationType) {
      entry.RotationDate = epochSeconds(m.rotatedAt);
      entry.RotationType = m.rotationType;
    }
    return entry;
  });
}
