/**
 * Migration 0016 on a database written by the previous version: every EXTERNAL key that had
 * material imported gets a record of that material (its current KeyMaterialId, with the key's
 * expiration while the material is there), so ListKeyRotations and reimports know it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { openSqliteStore, sqliteFlavor } from '../../src/store/sqlite/index.js';
import { initialSchema } from '../../src/store/sql/migrations/0001-initial.js';
import { authorizationSchema } from '../../src/store/sql/migrations/0002-authorization.js';
import { grantsAndQuorumSchema } from '../../src/store/sql/migrations/0003-grants-and-quorum.js';
import { customKeyStoresSchema } from '../../src/store/sql/migrations/0005-custom-key-stores.js';
import { certificateAuthoritySchema } from '../../src/store/sql/migrations/0006-certificate-authority.js';
import { changeFeedSchema } from '../../src/store/sql/migrations/0008-change-feed.js';
import { multiRegionSchema } from '../../src/store/sql/migrations/0009-multi-region.js';
import { principalIdsAndApprovalVisibilitySchema } from '../../src/store/sql/migrations/0011-principal-ids-and-approval-visibility.js';
import { replicationJobLeasesSchema } from '../../src/store/sql/migrations/0012-replication-job-leases.js';
import { caAuditMarksSchema } from '../../src/store/sql/migrations/0015-ca-audit-marks.js';
import { keyToRow, versionToRow } from '../../src/store/sql/rows.js';
import { key, version } from './fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

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

async function previousVersionDatabase(path: string): Promise<void> {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(path) }) });
  const migrations: Record<string, Migration> = {
    '0001-initial': initialSchema(sqliteFlavor),
    '0002-authorization': authorizationSchema(sqliteFlavor),
    '0003-grants-and-quorum': grantsAndQuorumSchema(sqliteFlavor),
    '0005-custom-key-stores': customKeyStoresSchema(sqliteFlavor),
    '0006-certificate-authority': certificateAuthoritySchema(sqliteFlavor),
    '0008-change-feed': changeFeedSchema(sqliteFlavor),
    '0009-multi-region': multiRegionSchema(sqliteFlavor),
    '0011-principal-ids-and-approval-visibility': principalIdsAndApprovalVisibilitySchema(sqliteFlavor),
    '0012-replication-job-leases': replicationJobLeasesSchema(sqliteFlavor),
    '0015-ca-audit-marks': caAuditMarksSchema(sqliteFlavor),
  };
  const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest();
  expect(error).toBeUndefined();
  for (const k of [imported, deleted, neverImported, generated]) await db.insertInto('keys').values(keyToRow(k)).execute();
  for (const v of [importedVersion, generatedVersion]) await db.insertInto('key_versions').values(versionToRow(v)).execute();
  await db.destroy();
}

it('records the material every imported key has, with its expiration while it is imported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-migration-'));
  dirs.push(dir);
  const path = join(dir, 'hsmkms.sqlite');
  await previousVersionDatabase(path);

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
