/**
 * Migration 0022 on a database written by the previous version, whose keys carried the ValidTo of
 * an expiring material pending rotation: each such key gets the ExpirationModel and ValidTo of its
 * permanently associated materials (AWS's KeyMetadata.ValidTo); other keys are left alone.
 */
import { expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { importedMaterialToRow, keyToRow } from '../../src/store/sql/rows.js';
import type { ImportedKeyMaterial } from '../../src/core/model.js';
import { key } from './fixtures.js';
import { previousVersionDatabase } from './previous-version.js';

const importedAt = new Date(Date.UTC(2026, 5, 1));
const soon = new Date(Date.UTC(2026, 6, 1));
const later = new Date(Date.UTC(2026, 9, 1));
const material = (keyId: string, versionId: string, fields: Partial<ImportedKeyMaterial>): ImportedKeyMaterial => ({
  keyId,
  versionId,
  pendingRotation: false,
  importedAt,
  ...fields,
});
/** Its current material does not expire; the staged one does, and the key said so. */
const staged = key({ origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: soon });
/** Its current material expires later than the staged one. */
const bothExpire = key({ origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: soon });
/** Nothing staged: left as it is. */
const plain = key({ origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: later });

it("gives each key with expiring material pending rotation the expiration of its permanently associated materials", async () => {
  const materials = [
    material(staged.keyId, 'a'.repeat(64), { expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    material(staged.keyId, 'b'.repeat(64), { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: soon, pendingRotation: true }),
    material(bothExpire.keyId, 'c'.repeat(64), { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: later }),
    material(bothExpire.keyId, 'd'.repeat(64), { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: soon, pendingRotation: true }),
    material(plain.keyId, 'e'.repeat(64), { expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: later }),
  ];
  const path = await previousVersionDatabase('0022', async ({ db }) => {
    for (const k of [staged, bothExpire, plain]) await db.insertInto('keys').values(keyToRow(k)).execute();
    for (const m of materials) await db.insertInto('imported_key_materials').values(importedMaterialToRow(m)).execute();
  });

  const store = await openSqliteStore({ path });
  try {
    const after = await store.getKey(staged.keyId);
    expect(after?.expirationModel).toBe('KEY_MATERIAL_DOES_NOT_EXPIRE');
    expect(after?.validTo).toBeUndefined();
    expect(await store.getKey(bothExpire.keyId)).toMatchObject({ expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: later });
    expect(await store.getKey(plain.keyId)).toMatchObject({ expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: later });
    // The staged materials still expire: the scheduler finds them by their own ValidTo.
    expect((await store.listKeysDue(soon, 10)).map((k) => k.keyId).sort()).toEqual([staged.keyId, bothExpire.keyId].sort());
  } finally {
    await store.close();
  }
});
