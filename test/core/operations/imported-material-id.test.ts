import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRecord, KeySpec } from '../../../src/core/model.js';
import { importedMaterialId, matchesImportedMaterialId, type ImportedMaterial } from '../../../src/core/operations/imported-material-id.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';

let kms: TestKms;
beforeAll(async () => {
  kms = await createTestKms();
});
afterAll(() => kms.close());

function keyOf(keySpec: KeySpec, keyId = 'a1b2c3d4-0000-4000-8000-000000000001'): KeyRecord {
  return { keyId, keySpec } as KeyRecord;
}

let counter = 0;
async function material(spec: KeySpec): Promise<ImportedMaterial> {
  const generated = await kms.backend.generateKeyMaterial(spec);
  return { ref: { id: `material-id-test/${counter++}`, keySpec: spec, wrapped: generated.wrapped }, publicKey: generated.publicKey };
}

describe('imported KeyMaterialIds', () => {
  for (const spec of ['SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_512', 'ECC_NIST_P256'] as const) {
    it(`${spec}: an id is 64 hex characters and matches only the material it came from`, async () => {
      const key = keyOf(spec);
      const mine = await material(spec);
      const other = await material(spec);
      const id = await importedMaterialId(kms.backend, key, mine);
      expect(id).toMatch(/^6b6301[0-9a-f]{58}$/);
      expect(await matchesImportedMaterialId(kms.backend, key, mine, id)).toBe(true);
      expect(await matchesImportedMaterialId(kms.backend, key, other, id)).toBe(false);
      // Bound to the key: the same material checked for another key id does not match.
      expect(await matchesImportedMaterialId(kms.backend, keyOf(spec, 'a1b2c3d4-0000-4000-8000-000000000002'), mine, id)).toBe(false);
      // Ids that do not carry a check (e.g. generated material's random ids) never match.
      expect(await matchesImportedMaterialId(kms.backend, key, mine, 'ab'.repeat(32))).toBe(false);
      const flipped = Buffer.from(id, 'hex');
      flipped[flipped.length - 1]! ^= 1;
      expect(await matchesImportedMaterialId(kms.backend, key, mine, flipped.toString('hex'))).toBe(false);
    });
  }
});
