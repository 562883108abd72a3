/**
 * A key's own ExpirationModel and ValidTo now come from its permanently associated materials only
 * (AWS's KeyMetadata.ValidTo; imported-materials.ts keyExpiration): material pending rotation
 * expires by its own record, which the scheduler finds through the index made here. Keys written
 * before carry the ValidTo of an expiring material pending rotation; they get theirs again.
 */
import { sql, type Kysely, type Migration } from 'kysely';

/** The permanently associated, imported materials of the key being updated. */
const associated = sql`FROM imported_key_materials m WHERE m.key_id = keys.key_id AND m.pending_rotation = 0 AND m.expiration_model IS NOT NULL`;

export function pendingMaterialExpirySchema(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`CREATE INDEX imported_key_materials_pending_expiry ON imported_key_materials (valid_to) WHERE pending_rotation = 1`.execute(db);
      await sql`UPDATE keys SET
          expiration_model = CASE
            WHEN EXISTS (SELECT 1 ${associated} AND m.expiration_model = 'KEY_MATERIAL_EXPIRES' AND m.valid_to IS NOT NULL) THEN 'KEY_MATERIAL_EXPIRES'
            WHEN EXISTS (SELECT 1 ${associated}) THEN 'KEY_MATERIAL_DOES_NOT_EXPIRE'
            ELSE NULL END,
          valid_to = (SELECT MIN(m.valid_to) ${associated} AND m.expiration_model = 'KEY_MATERIAL_EXPIRES')
        WHERE EXISTS (SELECT 1 FROM imported_key_materials p WHERE p.key_id = keys.key_id AND p.pending_rotation = 1 AND p.expiration_model IS NOT NULL)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      // The keys keep the ValidTo of their permanently associated materials: the earlier version reads it as it is.
      await sql`DROP INDEX imported_key_materials_pending_expiry`.execute(db);
    },
  };
}
