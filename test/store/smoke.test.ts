import { expect, test } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
test('smoke', async () => {
  const s = await openSqliteStore({ path: ':memory:' });
  const k = { keyId: 'k1', arn: 'arn:k1', accountId: '1', description: '', keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', origin: 'AWS_KMS', keyState: 'Enabled', creationDate: new Date(), policy: '{}', rotationEnabled: false, revision: 1 } as const;
  await s.insertKey(k);
  expect(await s.getKey('k1')).toEqual(k);
  await expect(s.insertKey(k)).rejects.toMatchObject({ type: 'AlreadyExistsException' });
  expect(await s.updateKey({ ...k, revision: 2, description: 'x' })).toBe(true);
  expect(await s.updateKey({ ...k, revision: 2 })).toBe(false);
  await s.transaction(async (tx) => { expect((await tx.getKey('k1'))?.description).toBe('x'); });
  await s.close();
});
