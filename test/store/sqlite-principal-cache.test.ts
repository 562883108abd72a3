/**
 * The SQLite store serves the authorizer's per-request principal read from a cache; a change
 * committed by another connection (another worker, the CLI) must be seen on the next read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { accessKey, principal } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-principal-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite principal authorization cache', () => {
  it('is never stale: roles, policies and access keys changed through another connection show on the next read', async () => {
    const path = join(dir, 'store.db');
    const worker = await openSqliteStore({ path });
    const cli = await openSqliteStore({ path });
    try {
      const p = principal('cached');
      const k = accessKey(p.arn);
      await cli.insertPrincipal(p);
      await cli.insertAccessKey(k);
      const first = await worker.getPrincipalAuthorization(p.arn, k.accessKeyId);
      expect(first?.accessKeyStatus).toBe('Active');
      // A copy each time: changing what a caller got does not change the cache.
      first!.policies.push({ policyName: 'mutated', document: '{}' });
      expect((await worker.getPrincipalAuthorization(p.arn, k.accessKeyId))?.policies).toStrictEqual([]);

      await cli.setPrincipalRoles(p.arn, ['Auditor']);
      expect((await worker.getPrincipalAuthorization(p.arn, k.accessKeyId))?.principal.roles).toStrictEqual(['Auditor']);
      const at = new Date();
      await cli.putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: '{"Version":"2012-10-17","Statement":[]}', createdAt: at, updatedAt: at });
      expect((await worker.getPrincipalAuthorization(p.arn, k.accessKeyId))?.policies.map((x) => x.policyName)).toStrictEqual(['p']);
      await cli.deleteAccessKey(k.accessKeyId);
      expect((await worker.getPrincipalAuthorization(p.arn, k.accessKeyId))?.accessKeyStatus).toBeUndefined();
      await cli.deletePrincipal(p.arn);
      expect(await worker.getPrincipalAuthorization(p.arn, k.accessKeyId)).toBeUndefined();
      // And the worker's own writes.
      await worker.insertPrincipal(p);
      expect((await worker.getPrincipalAuthorization(p.arn))?.principal).toStrictEqual(p);
    } finally {
      await worker.close();
      await cli.close();
    }
  });
});
