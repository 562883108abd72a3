/**
 * The imported key materials of an EXTERNAL key, as AWS KMS models them since on-demand rotation
 * of imported keys (June 2025): the first material imported is current and permanently
 * associated with the key; a symmetric encryption key takes further materials with ImportType
 * NEW_KEY_MATERIAL, each PENDING_ROTATION until RotateKeyOnDemand makes it current (and
 * permanently associated). The key is usable only while every permanently associated material is
 * imported: deleting or expiring any of them makes it PendingImport. Shared by ImportKeyMaterial,
 * RotateKeyOnDemand, DeleteImportedKeyMaterial, ListKeyRotations and the scheduler's expiry.
 */
import { KmsError } from '../errors.js';
import { isPendingDeletion, requireEnabled } from '../key-resolver.js';
import type { ExpirationModel, ImportedKeyMaterial, KeyRecord } from '../model.js';
import type { KmsDeps } from '../operation.js';
import type { MetadataRepository } from '../ports.js';
import type { StringRule } from '../validation.js';
import { updateKeyRecord } from './key-updates.js';
import { requireOnDemandRotationLeft } from './rotation.js';

export const IMPORT_TYPES = ['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL'] as const;
export type ImportType = (typeof IMPORT_TYPES)[number];

/** AWS's KeyMaterialDescription constraints (API reference, ImportKeyMaterial). */
export const KEY_MATERIAL_DESCRIPTION_RULE = { max: 256, pattern: /^[a-zA-Z0-9:/_\s.-]+$/ } as const satisfies StringRule;

export type KeyMaterialState = 'CURRENT' | 'NON_CURRENT' | 'PENDING_ROTATION';

/**
 * Keys that hold several imported materials and rotate them on demand: symmetric encryption
 * keys of EXTERNAL origin. Multi-Region ones are left out: AWS's flow for them (import into the
 * primary, then the same material into every replica, PENDING_MULTI_REGION_IMPORT_AND_ROTATION)
 * is not implemented here, so they keep their single material.
 */
export function rotatesImportedMaterial(key: Pick<KeyRecord, 'keyId' | 'keySpec' | 'origin'>): boolean {
  return key.origin === 'EXTERNAL' && key.keySpec === 'SYMMETRIC_DEFAULT' && !key.keyId.startsWith('mrk-');
}

/** Refusal of a second material for a multi-Region imported key (see {@link rotatesImportedMaterial}). */
export function multiRegionImportedRotationUnsupported(key: KeyRecord): KmsError {
  return new KmsError(
    'UnsupportedOperationException',
    `${key.arn} is a multi-Region key with imported key material; hsmkms does not support new key material or on-demand rotation for it.`,
  );
}

/**
 * The key's imported materials in import order. A key whose material was imported without a
 * record (a multi-Region replica's first import before this model) gets one for its current id.
 */
export async function importedMaterialsOf(repo: MetadataRepository, key: KeyRecord): Promise<ImportedKeyMaterial[]> {
  const materials = await repo.listImportedMaterials(key.keyId);
  if (key.currentVersionId === undefined || materials.some((m) => m.versionId === key.currentVersionId)) return materials;
  const legacy: ImportedKeyMaterial = {
    keyId: key.keyId,
    versionId: key.currentVersionId,
    expirationModel: key.expirationModel,
    validTo: key.validTo,
    pendingRotation: false,
    importedAt: key.creationDate,
  };
  return [legacy, ...materials];
}

export function keyMaterialState(key: Pick<KeyRecord, 'currentVersionId'>, material: ImportedKeyMaterial): KeyMaterialState {
  if (material.versionId === key.currentVersionId) return 'CURRENT';
  return material.pendingRotation ? 'PENDING_ROTATION' : 'NON_CURRENT';
}

/**
 * The key's own ExpirationModel and ValidTo given its materials, as AWS's KeyMetadata defines
 * them: of the permanently associated materials only (material pending rotation is not, until
 * the rotation), the earliest ValidTo of those that expire (an expiring permanently associated
 * material makes the whole key unusable); else DOES_NOT_EXPIRE while any is imported. The
 * scheduler finds a pending material's own ValidTo in its record (MetadataRepository.listKeysDue).
 */
export function keyExpiration(materials: readonly ImportedKeyMaterial[]): { expirationModel?: ExpirationModel; validTo?: Date } {
  const imported = materials.filter((m) => m.expirationModel !== undefined && !m.pendingRotation);
  if (imported.length === 0) return { expirationModel: undefined, validTo: undefined };
  const expiring = imported.flatMap((m) => (m.expirationModel === 'KEY_MATERIAL_EXPIRES' && m.validTo ? [m.validTo] : []));
  if (expiring.length === 0) return { expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: undefined };
  return { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: new Date(Math.min(...expiring.map((d) => d.getTime()))) };
}

/**
 * Whether a material permanently associated with the key is not imported (deleted or expired): the
 * key can be nothing but PendingImport (or pending deletion) until that same material comes back.
 */
export async function lacksAssociatedMaterial(repo: MetadataRepository, key: KeyRecord): Promise<boolean> {
  if (key.origin !== 'EXTERNAL') return false;
  const present = new Set((await repo.listKeyVersions(key.keyId)).map((v) => v.versionId));
  return (await importedMaterialsOf(repo, key)).some((m) => !m.pendingRotation && !present.has(m.versionId));
}

/** The key's materials whose ValidTo is at or before `now`, pending rotation or not: what the scheduler deletes. */
export function expiredMaterials(materials: readonly ImportedKeyMaterial[], now: Date): ImportedKeyMaterial[] {
  return materials.filter((m) => m.expirationModel === 'KEY_MATERIAL_EXPIRES' && m.validTo !== undefined && m.validTo <= now);
}

/**
 * Inside a transaction: removes the material of `versionIds`. A material pending rotation is
 * forgotten altogether (it was never permanently associated, and different material may take its
 * place); any other stays recorded as PENDING_IMPORT and makes the key PendingImport (a key
 * pending deletion stays so). Returns the key record to write.
 */
export async function removeImportedMaterials(tx: MetadataRepository, key: KeyRecord, versionIds: ReadonlySet<string>): Promise<KeyRecord> {
  const materials = await importedMaterialsOf(tx, key);
  let associatedRemoved = false;
  const remaining: ImportedKeyMaterial[] = [];
  for (const material of materials) {
    if (!versionIds.has(material.versionId)) {
      remaining.push(material);
      continue;
    }
    await tx.deleteKeyVersion(key.keyId, material.versionId);
    if (material.pendingRotation) {
      await tx.deleteImportedMaterial(key.keyId, material.versionId);
      continue;
    }
    associatedRemoved = true;
    const removed = { ...material, expirationModel: undefined, validTo: undefined };
    await tx.putImportedMaterial(removed);
    remaining.push(removed);
  }
  const staysPending = isPendingDeletion(key);
  return {
    ...key,
    keyState: associatedRemoved && !staysPending ? 'PendingImport' : key.keyState,
    ...keyExpiration(remaining),
  };
}

/**
 * RotateKeyOnDemand needs material in PENDING_ROTATION (AWS); without it the operation is
 * refused as it was for every imported key before AWS added this rotation, so clients that
 * recognise that refusal still do.
 */
function noPendingRotation(key: KeyRecord): KmsError {
  return new KmsError(
    'UnsupportedOperationException',
    `${key.arn} has no key material in PENDING_ROTATION state: on-demand rotation is supported only for symmetric encryption keys with AWS_KMS origin, or with EXTERNAL origin once new key material is imported (ImportKeyMaterial with ImportType NEW_KEY_MATERIAL).`,
  );
}

/**
 * The material waiting for RotateKeyOnDemand, or the refusal of {@link noPendingRotation}. One past
 * its ValidTo counts as gone already (AWS deletes it then; the scheduler does at its next pass):
 * rotating to it would make the key PendingImport moments later.
 */
async function pendingRotationOf(repo: MetadataRepository, key: KeyRecord, now: Date): Promise<{ pending: ImportedKeyMaterial; materials: ImportedKeyMaterial[] }> {
  const materials = await importedMaterialsOf(repo, key);
  const expired = new Set(expiredMaterials(materials, now));
  const pending = materials.find((m) => m.pendingRotation && !expired.has(m));
  if (!pending) throw noPendingRotation(key);
  return { pending, materials };
}

/**
 * RotateKeyOnDemand for a key of {@link rotatesImportedMaterial}: the material in
 * PENDING_ROTATION becomes current and permanently associated. Ciphertexts name their material,
 * so earlier ones keep decrypting.
 */
export async function rotateToImportedMaterial(deps: KmsDeps, key: KeyRecord): Promise<KeyRecord> {
  return updateKeyRecord(deps, key.keyId, async (current, tx) => {
    const { pending, materials } = await pendingRotationOf(tx, current, deps.clock.now());
    requireEnabled(current);
    requireOnDemandRotationLeft(current, materials.filter((m) => m.rotationType === 'ON_DEMAND').length);
    // A pending material is always imported: deleting or expiring it forgets it altogether.
    const rotated: ImportedKeyMaterial = { ...pending, pendingRotation: false, rotatedAt: deps.clock.now(), rotationType: 'ON_DEMAND' };
    await tx.putImportedMaterial(rotated);
    // Now permanently associated, its ValidTo is the key's if it comes first.
    return { ...current, currentVersionId: pending.versionId, ...keyExpiration(materials.map((m) => (m.versionId === rotated.versionId ? rotated : m))) };
  });
}
