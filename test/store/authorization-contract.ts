/**
 * The AuthorizationRepository part of the store contract (principals' roles, identity
 * policies, tags, access keys, key ownership), run by every store through
 * describeMetadataStoreContract.
 */
import { describe, expect, it } from 'vitest';
import type { MetadataStore } from '../../src/core/ports.js';
import { accessKey, key, principal } from './fixtures.js';

export function describeAuthorizationContract(store: () => MetadataStore): void {
  describe('authorization', () => {
    const doc = (action: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });

    it('reads a principal’s roles, policies, tags and access-key status together, and nothing for an unknown principal', async () => {
      const p = principal('reader', { roles: ['Auditor', 'CryptoUser'] });
      const k = accessKey(p.arn);
      const other = principal('other');
      const otherKey = accessKey(other.arn, { status: 'Inactive' });
      await store().insertPrincipal(p);
      await store().insertPrincipal(other);
      await store().insertAccessKey(k);
      await store().insertAccessKey(otherKey);
      const at = new Date('2026-05-01T00:00:00.001Z');
      await store().putPrincipalPolicy({ principalArn: p.arn, policyName: 'b', document: doc('kms:Decrypt'), createdAt: at, updatedAt: at });
      await store().putPrincipalPolicy({ principalArn: p.arn, policyName: 'a', document: doc('kms:Encrypt'), createdAt: at, updatedAt: at });
      await store().putPrincipalTags(p.arn, [{ TagKey: 'team', TagValue: 'blue' }]);

      expect(await store().getPrincipalAuthorization(p.arn, k.accessKeyId)).toStrictEqual({
        principal: p,
        policies: [
          { policyName: 'a', document: doc('kms:Encrypt') },
          { policyName: 'b', document: doc('kms:Decrypt') },
        ],
        tags: [{ TagKey: 'team', TagValue: 'blue' }],
        accessKeyStatus: 'Active',
      });
      // Another principal's access key is not this principal's.
      expect((await store().getPrincipalAuthorization(p.arn, otherKey.accessKeyId))?.accessKeyStatus).toBeUndefined();
      expect((await store().getPrincipalAuthorization(other.arn, otherKey.accessKeyId))?.accessKeyStatus).toBe('Inactive');
      expect((await store().getPrincipalAuthorization(p.arn))?.accessKeyStatus).toBeUndefined();
      expect(await store().getPrincipalAuthorization('arn:aws:iam::111122223333:user/none', k.accessKeyId)).toBeUndefined();
    });

    it('replaces a policy of the same name, lists and deletes policies', async () => {
      const p = principal('policies');
      await store().insertPrincipal(p);
      const t1 = new Date('2026-05-01T00:00:00.000Z');
      const t2 = new Date('2026-05-02T00:00:00.000Z');
      await store().putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: doc('kms:Encrypt'), createdAt: t1, updatedAt: t1 });
      await store().putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: doc('kms:Decrypt'), createdAt: t2, updatedAt: t2 });
      expect(await store().listPrincipalPolicies(p.arn)).toStrictEqual([
        { principalArn: p.arn, policyName: 'p', document: doc('kms:Decrypt'), createdAt: t1, updatedAt: t2 },
      ]);
      expect(await store().deletePrincipalPolicy(p.arn, 'p')).toBe(true);
      expect(await store().deletePrincipalPolicy(p.arn, 'p')).toBe(false);
      expect(await store().listPrincipalPolicies(p.arn)).toStrictEqual([]);
    });

    it('replaces roles, overwrites and removes tags', async () => {
      const p = principal('roles', { roles: ['CryptoUser'] });
      await store().insertPrincipal(p);
      expect(await store().setPrincipalRoles(p.arn, ['Auditor', 'CryptoOfficer', 'Auditor'])).toBe(true);
      expect((await store().getPrincipal(p.arn))?.roles).toStrictEqual(['Auditor', 'CryptoOfficer']);
      expect(await store().setPrincipalRoles('arn:aws:iam::111122223333:user/none', ['Auditor'])).toBe(false);
      await store().putPrincipalTags(p.arn, [{ TagKey: 'a', TagValue: '1' }, { TagKey: 'b', TagValue: '2' }]);
      await store().putPrincipalTags(p.arn, [{ TagKey: 'a', TagValue: '3' }]);
      await store().deletePrincipalTags(p.arn, ['b', 'missing']);
      expect((await store().getPrincipalAuthorization(p.arn))?.tags).toStrictEqual([{ TagKey: 'a', TagValue: '3' }]);
    });

    it('lists and deletes access keys without their secrets', async () => {
      const p = principal('keys');
      await store().insertPrincipal(p);
      const first = accessKey(p.arn, { createdAt: new Date('2026-01-01T00:00:00.000Z') });
      const second = accessKey(p.arn, { createdAt: new Date('2026-01-02T00:00:00.000Z'), status: 'Inactive' });
      await store().insertAccessKey(second);
      await store().insertAccessKey(first);
      expect(await store().listAccessKeys(p.arn)).toStrictEqual([
        { accessKeyId: first.accessKeyId, status: 'Active', createdAt: first.createdAt },
        { accessKeyId: second.accessKeyId, status: 'Inactive', createdAt: second.createdAt },
      ]);
      expect(await store().deleteAccessKey(first.accessKeyId)).toBe(true);
      expect(await store().deleteAccessKey(first.accessKeyId)).toBe(false);
      expect(await store().getAccessKey(first.accessKeyId)).toBeUndefined();
    });

    it('records key owners, counts them, and clears ownership (bumping the revision) when the owner is deleted', async () => {
      const p = principal('owner');
      await store().insertPrincipal(p);
      await store().insertAccessKey(accessKey(p.arn));
      await store().putPrincipalTags(p.arn, [{ TagKey: 't', TagValue: 'v' }]);
      const at = new Date('2026-05-01T00:00:00.000Z');
      await store().putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: doc('kms:Encrypt'), createdAt: at, updatedAt: at });
      const owned = key({ ownerArn: p.arn, revision: 3 });
      const unowned = key();
      await store().insertKey(owned);
      await store().insertKey(unowned);
      expect(await store().getKey(owned.keyId)).toStrictEqual(owned);
      expect(await store().countKeysOwnedBy(p.arn)).toBe(1);

      expect(await store().deletePrincipal(p.arn)).toBe(true);
      expect(await store().deletePrincipal(p.arn)).toBe(false);
      expect(await store().getPrincipal(p.arn)).toBeUndefined();
      expect(await store().listAccessKeys(p.arn)).toStrictEqual([]);
      expect(await store().listPrincipalPolicies(p.arn)).toStrictEqual([]);
      const { ownerArn: _gone, ...withoutOwner } = owned;
      expect(await store().getKey(owned.keyId)).toStrictEqual({ ...withoutOwner, revision: 4 });
      expect(await store().getKey(unowned.keyId)).toStrictEqual(unowned);
      expect(await store().countKeysOwnedBy(p.arn)).toBe(0);
    });

    it('pages principals in ARN order with their roles, resuming after a position', async () => {
      for (const name of ['c', 'a', 'b']) await store().insertPrincipal(principal(`page-${name}`, { roles: name === 'b' ? ['Auditor'] : ['CryptoUser'] }));
      const first = await store().listPrincipalsPage(2);
      expect(first.items.map((p) => p.name)).toStrictEqual(['page-a', 'page-b']);
      expect(first.items[1]!.roles).toStrictEqual(['Auditor']);
      expect(first.more).toBe(true);
      const second = await store().listPrincipalsPage(2, { arn: first.items[1]!.arn });
      expect(second.items.map((p) => p.name)).toStrictEqual(['page-c']);
      expect(second.more).toBe(false);
      // Exactly full: nothing more.
      expect((await store().listPrincipalsPage(1, { arn: first.items[1]!.arn })).more).toBe(false);
      // A position need not be a stored principal: the listing resumes after where it would sort.
      expect((await store().listPrincipalsPage(10, { arn: `${first.items[0]!.arn}~` })).items.map((p) => p.name)).toStrictEqual(['page-b', 'page-c']);
      expect(await store().countPrincipals()).toBe(3);
      expect(await store().countPrincipals('CryptoUser')).toBe(2);
      expect(await store().countPrincipals('RegionPeer')).toBe(0);
    });

    it('sees policy and role changes made inside a transaction once it commits, and none when it rolls back', async () => {
      const p = principal('tx');
      await store().insertPrincipal(p);
      expect((await store().getPrincipalAuthorization(p.arn))?.policies).toStrictEqual([]);
      const at = new Date('2026-05-01T00:00:00.000Z');
      await expect(
        store().transaction(async (tx) => {
          await tx.putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: doc('kms:Encrypt'), createdAt: at, updatedAt: at });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect((await store().getPrincipalAuthorization(p.arn))?.policies).toStrictEqual([]);
      await store().transaction(async (tx) => {
        await tx.putPrincipalPolicy({ principalArn: p.arn, policyName: 'p', document: doc('kms:Encrypt'), createdAt: at, updatedAt: at });
        await tx.setPrincipalRoles(p.arn, ['Auditor']);
      });
      const after = await store().getPrincipalAuthorization(p.arn);
      expect(after?.policies.map((x) => x.policyName)).toStrictEqual(['p']);
      expect(after?.principal.roles).toStrictEqual(['Auditor']);
    });
  });
}
