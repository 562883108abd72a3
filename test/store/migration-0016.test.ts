/**
 * Migration 0016 on a database written by the previous version: every EXTERNAL key that had
 * material imported gets a record of that material (its current KeyMaterialId, with the key's
 * expiration while the material is there), so ListKeyRotations and reimports know it.
 */
import { expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { keyToRow, versionToRow } from '../../src/store/sql/rows.js';
import { key, version } from './fixtures.js';
import { previousVersionDatabase } from './previous-version.js';

const validTo = new Date(Date.UTC(2027, 0, 1));
const imported = key({ origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo });
const importedVersion = version(imported.keyId, { createdAt: new Date(Date.UTC(2026, 5, 1)) });
imported.currentVersionId = importedVersion.versionId;
/** DeleteImportedKeyMaterial'd: the id stays on the key, the material is gone. */
const deleted = key({ origin: 'EXTERNAL', keyState: 'PendingImport', currentVersionId: 'ab'.repeat(32) });
const neverImported = key({ origin: 'EXTERNAL', keyState: 'PendingImport', currentVersionId: undefined });
const generated = key();
const generatedVersion = version(generated.keyId);
generated.currentVersionId = generatedVersion.versionId;

it('records the material every imported key has, with its expiration while it is imported', async () => {
  const path = await previousVersionDatabase('0016', async ({ db }) => {
    for (const k of [imported, deleted, neverImported, generated]) await db.insertInto('keys').values(keyToRow(k)).execute();
    for (const v of [importedVersion, generatedVersion]) await db.insertInto('key_versions').values(versionToRow(v)).execute();
  });

  const store = await openSqliteStore({ path });
  try {
    expect(await store.listImportedMaterials(imported.keyId)).toEqual([
      {
        keyId: imported.keyId,
        versionId: importedVersion.versionId,
        expirationModel: 'KEY_MATERIAL_EXPIRES',
        validTo,
        pendingRotation: false,
        importedAt: importedVersion.createdAt,
      },
    ]);
    expect(await store.listImportedMaterials(deleted.keyId)).toEqual([
      { keyId: deleted.keyId, versionId: deleted.currentVersionId, pendingRotation: false, importedAt: deleted.creationDate },
    ]);
    expect(await store.listImportedMaterials(neverImported.keyId)).toEqual([]);
    expect(await store.listImportedMaterials(generated.keyId)).toEqual([]);
  } finally {
    await store.close();
  }
});
