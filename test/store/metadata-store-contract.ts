/**
 * The MetadataStore contract: every store implementation (SQLite now, PostgreSQL next) runs
 * these same assertions through {@link describeMetadataStoreContract} with its own factory.
 * Each test gets a fresh, empty store.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyListPosition, MetadataStore } from '../../src/core/ports.js';
import { StoreError } from '../../src/core/store-error.js';
import { describeKeyStoreRepositoryContract } from './key-store-contract.js';
import type { MaterialDestruction } from '../../src/core/model.js';
import { accessKey, alias, importToken, key, nextKeyId, normaliseBytes, principal, version } from './fixtures.js';
import { describeGrantAndQuorumContract } from './grants-quorum-contract.js';
import { describeAuthorizationContract } from './authorization-contract.js';
import { describeMultiRegionContract } from './multi-region-contract.js';

export type StoreFactory = () => Promise<MetadataStore>;

export function describeMetadataStoreContract(name: string, open: StoreFactory): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let store: MetadataStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describeGrantAndQuorumContract(() => store);
    describeAuthorizationContract(() => store);
    describeKeyStoreRepositoryContract(() => store);
    describeMultiRegionContract(() => store);

    describe('keys', () => {
      it('round-trips a key with every optional field, dates to the millisecond', async () => {
        const full = key({
          description: 'a key with everything',
          keySpec: 'RSA_3072',
          keyUsage: 'SIGN_VERIFY',
          origin: 'EXTERNAL',
          keyState: 'PendingDeletion',
          deletionDate: new Date('2026-05-06T07:08:09.123Z'),
          pendingDeletionWindowInDays: 7,
          expirationModel: 'KEY_MATERIAL_EXPIRES',
          validTo: new Date('2027-01-01T00:00:00.001Z'),
          rotationEnabled: true,
          rotationPeriodInDays: 365,
          nextRotationDate: new Date('2027-01-02T03:04:05.999Z'),
          revision: 7,
        });
        await store.insertKey(full);
        expect(await store.getKey(full.keyId)).toStrictEqual(full);
      });

      it('reads absent optional fields back as absent, not null', async () => {
        const { currentVersionId: _omit, ...minimal } = key({ keyState: 'PendingImport' });
        await store.insertKey(minimal);
        const stored = await store.getKey(minimal.keyId);
        expect(stored).toStrictEqual(minimal);
        expect(stored && 'deletionDate' in stored).toBe(false);
      });

      it('returns undefined for an unknown key', async () => {
        expect(await store.getKey('no-such-key')).toBeUndefined();
      });

      it('rejects a duplicate key id with a StoreError conflict naming the key, and keeps the first', async () => {
        const first = key({ description: 'first' });
        await store.insertKey(first);
        const error = await store.insertKey({ ...first, description: 'second' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ kind: 'conflict', record: 'key', subject: first.arn });
        expect((await store.getKey(first.keyId))?.description).toBe('first');
      });

      it('updates only from the previous revision (optimistic concurrency)', async () => {
        const k = key({ revision: 1 });
        await store.insertKey(k);
        expect(await store.updateKey({ ...k, description: 'two', revision: 2 })).toBe(true);
        // A writer that read revision 1 loses.
        expect(await store.updateKey({ ...k, description: 'stale', revision: 2 })).toBe(false);
        // Skipping a revision is also a conflict.
        expect(await store.updateKey({ ...k, description: 'skip', revision: 4 })).toBe(false);
        expect(await store.getKey(k.keyId)).toMatchObject({ description: 'two', revision: 2 });
        expect(await store.updateKey(key({ revision: 2 }))).toBe(false);
      });

      it('lets exactly one of two concurrent writers of the same revision win', async () => {
        const k = key();
        await store.insertKey(k);
        const results = await Promise.all([
          store.updateKey({ ...k, keyState: 'Disabled', revision: 2 }),
          store.updateKey({ ...k, description: 'other', revision: 2 }),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.getKey(k.keyId))?.revision).toBe(2);
      });

      it('clears optional fields on update', async () => {
        const k = key({ keyState: 'PendingDeletion', deletionDate: new Date(1_800_000_000_123), pendingDeletionWindowInDays: 30 });
        await store.insertKey(k);
        const cancelled = { ...k, keyState: 'Disabled' as const, deletionDate: undefined, pendingDeletionWindowInDays: undefined, revision: 2 };
        expect(await store.updateKey(cancelled)).toBe(true);
        const stored = await store.getKey(k.keyId);
        expect(stored?.deletionDate).toBeUndefined();
        expect(stored?.pendingDeletionWindowInDays).toBeUndefined();
        expect(stored?.keyState).toBe('Disabled');
      });

      it('deletes a key with its versions, aliases, tags and import tokens, and nothing else', async () => {
        const doomed = key();
        const kept = key();
        for (const k of [doomed, kept]) {
          await store.insertKey(k);
          await store.insertKeyVersion(version(k.keyId));
          await store.putTags(k.keyId, [{ TagKey: 'team', TagValue: k.keyId }]);
          await store.insertImportToken(importToken(k.keyId));
        }
        await store.insertAlias(alias('alias/doomed', doomed.keyId));
        await store.insertAlias(alias('alias/kept', kept.keyId));

        await store.deleteKey(doomed.keyId);

        expect(await store.getKey(doomed.keyId)).toBeUndefined();
        expect(await store.listKeyVersions(doomed.keyId)).toEqual([]);
        expect(await store.getAlias('alias/doomed')).toBeUndefined();
        expect(await store.getTags(doomed.keyId)).toEqual([]);
        expect((await store.listAliases({ limit: 100 })).items.map((a) => a.aliasName)).toEqual(['alias/kept']);
        expect(await store.getKey(kept.keyId)).toBeDefined();
        expect(await store.listKeyVersions(kept.keyId)).toHaveLength(1);
        expect(await store.getTags(kept.keyId)).toHaveLength(1);
        expect(await store.countKeys()).toBe(1);
        await store.deleteKey('no-such-key');
      });

      it('lists keys by creation date, then id', async () => {
        const t = Date.UTC(2026, 0, 1);
        const late = key({ keyId: 'a-late', creationDate: new Date(t + 2) });
        const tieB = key({ keyId: 'b-tie', creationDate: new Date(t + 1) });
        const tieA = key({ keyId: 'a-tie', creationDate: new Date(t + 1) });
        const early = key({ keyId: 'z-early', creationDate: new Date(t) });
        for (const k of [late, tieB, tieA, early]) await store.insertKey(k);
        const page = await store.listKeys(100);
        expect(page.items.map((k) => k.keyId)).toEqual(['z-early', 'a-tie', 'b-tie', 'a-late']);
        expect(page.more).toBe(false);
      });

      it('pages through keys by position, each key once', async () => {
        const t = Date.UTC(2026, 0, 1);
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          // Pairs share a creation date so a page boundary falls inside a tie.
          const k = key({ creationDate: new Date(t + Math.floor(i / 2)) });
          ids.push(k.keyId);
          await store.insertKey(k);
        }
        const seen: string[] = [];
        const sizes: number[] = [];
        let after: KeyListPosition | undefined;
        for (;;) {
          const page = await store.listKeys(2, after);
          sizes.push(page.items.length);
          seen.push(...page.items.map((k) => k.keyId));
          const last = page.items.at(-1)!;
          if (!page.more) break;
          after = { creationDate: last.creationDate, keyId: last.keyId };
        }
        expect(seen).toEqual(ids);
        expect(sizes).toEqual([2, 2, 2, 1]);
      });

      it('says there is no more when the last page is exactly full', async () => {
        for (let i = 0; i < 4; i++) await store.insertKey(key());
        const first = await store.listKeys(2);
        expect(first.more).toBe(true);
        const last = first.items.at(-1)!;
        const second = await store.listKeys(2, { creationDate: last.creationDate, keyId: last.keyId });
        expect(second.items).toHaveLength(2);
        expect(second.more).toBe(false);
      });

      it('counts keys', async () => {
        expect(await store.countKeys()).toBe(0);
        await store.insertKey(key());
        await store.insertKey(key());
        expect(await store.countKeys()).toBe(2);
      });

      it('counts keys of one key spec (the limit on ECC_NIST_EDWARDS25519 keys)', async () => {
        await store.insertKey(key());
        await store.insertKey(key({ keySpec: 'ECC_NIST_EDWARDS25519', keyUsage: 'SIGN_VERIFY' }));
        await store.insertKey(key({ keySpec: 'ECC_NIST_EDWARDS25519', keyUsage: 'SIGN_VERIFY', keyState: 'PendingDeletion', deletionDate: new Date() }));
        expect(await store.countKeys('ECC_NIST_EDWARDS25519')).toBe(2);
        expect(await store.countKeys('ECC_NIST_P256')).toBe(0);
        expect(await store.countKeys()).toBe(3);
      });

      it('lists keys whose deletion, rotation or expiry is due now, and only those', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const past = new Date(now.getTime() - 1);
        const future = new Date(now.getTime() + 1);
        const due = [
          key({ keyId: 'k1-deleting', keyState: 'PendingDeletion', deletionDate: past, pendingDeletionWindowInDays: 7 }),
          key({ keyId: 'k2-rotating', rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: now }),
          key({ keyId: 'k3-expiring', origin: 'EXTERNAL', validTo: past, expirationModel: 'KEY_MATERIAL_EXPIRES' }),
          key({ keyId: 'k4-expiring-disabled', origin: 'EXTERNAL', keyState: 'Disabled', validTo: past, expirationModel: 'KEY_MATERIAL_EXPIRES' }),
        ];
        const notDue = [
          key({ keyId: 'n1-later', keyState: 'PendingDeletion', deletionDate: future, rotationEnabled: true, nextRotationDate: future }),
          key({ keyId: 'n2-never' }),
          // A past date alone is not enough: these wait for a state change, not for the scheduler.
          key({ keyId: 'n3-disabled-rotation', keyState: 'Disabled', rotationEnabled: true, nextRotationDate: past }),
          key({ keyId: 'n4-rotation-off', rotationEnabled: false, nextRotationDate: past }),
          key({ keyId: 'n5-pending-deletion-no-rotation', keyState: 'PendingDeletion', deletionDate: future, rotationEnabled: true, nextRotationDate: past }),
          key({ keyId: 'n6-deletion-cancelled', keyState: 'Disabled', deletionDate: past }),
        ];
        for (const k of [...notDue, ...due]) await store.insertKey(k);
        expect((await store.listKeysDue(now, 10)).map((k) => k.keyId).sort()).toEqual(due.map((k) => k.keyId));
        expect(await store.listKeysDue(now, 2)).toHaveLength(2);
        expect(await store.listKeysDue(new Date(0), 10)).toEqual([]);
        expect((await store.listKeysDue(now, 10)).find((k) => k.keyId === 'k1-deleting')).toStrictEqual(due[0]);
      });

      it("lists an imported key whose material pending rotation is past its ValidTo, which the key's own ValidTo leaves out", async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const material = (keyId: string, validTo: Date) => ({
          keyId,
          versionId: 'e'.repeat(64),
          expirationModel: 'KEY_MATERIAL_EXPIRES' as const,
          validTo,
          pendingRotation: true,
          importedAt: now,
        });
        for (const keyId of ['k-pending-expired', 'n-pending-later'])
          await store.insertKey(key({ keyId, origin: 'EXTERNAL', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
        await store.putImportedMaterial(material('k-pending-expired', new Date(now.getTime() - 1)));
        await store.putImportedMaterial(material('n-pending-later', new Date(now.getTime() + 1)));
        expect((await store.listKeysDue(now, 10)).map((k) => k.keyId)).toEqual(['k-pending-expired']);
      });

      it('lists a key due for two kinds of work once, custom key store keys too, oldest first across kinds, up to the limit', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const past = new Date(now.getTime() - 1);
        const t = now.getTime() - 86_400_000;
        // Created in this order; each kind of due work among the oldest, so a limit cuts across kinds.
        const due = [
          key({ keyId: 'd1-rotating', creationDate: new Date(t), rotationEnabled: true, rotationPeriodInDays: 90, nextRotationDate: past }),
          key({
            keyId: 'd2-deleting-and-expiring',
            creationDate: new Date(t + 1),
            origin: 'EXTERNAL',
            keyState: 'PendingDeletion',
            deletionDate: past,
            pendingDeletionWindowInDays: 7,
            validTo: past,
            expirationModel: 'KEY_MATERIAL_EXPIRES',
          }),
          key({ keyId: 'd3-cloudhsm-deleting', creationDate: new Date(t + 2), origin: 'AWS_CLOUDHSM', keyState: 'PendingDeletion', deletionDate: past, pendingDeletionWindowInDays: 7 }),
          key({ keyId: 'd4-expiring', creationDate: new Date(t + 3), origin: 'EXTERNAL', validTo: past, expirationModel: 'KEY_MATERIAL_EXPIRES' }),
          key({ keyId: 'd5-xks-deleting', creationDate: new Date(t + 4), origin: 'EXTERNAL_KEY_STORE', keyState: 'PendingDeletion', deletionDate: past, pendingDeletionWindowInDays: 7 }),
        ];
        for (const k of [...due].reverse()) await store.insertKey(k);
        const ids = async (limit: number) => (await store.listKeysDue(now, limit)).map((k) => k.keyId);
        expect(await ids(10)).toEqual(due.map((k) => k.keyId));
        for (let limit = 1; limit <= due.length; limit++) expect(await ids(limit)).toEqual(due.slice(0, limit).map((k) => k.keyId));
        // After a position (the scheduler's next batch): only the keys after it, in the same order.
        for (let i = 0; i < due.length; i++) {
          const after = { creationDate: due[i]!.creationDate, keyId: due[i]!.keyId };
          expect((await store.listKeysDue(now, 10, after)).map((k) => k.keyId)).toEqual(due.slice(i + 1).map((k) => k.keyId));
        }
      });

      it('pages through due keys created in the same millisecond, each once, by key id', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const created = new Date(now.getTime() - 86_400_000);
        const ids = ['s3', 's1', 's5', 's2', 's4'].map((n) => `same-ms-${n}`);
        for (const keyId of ids) await store.insertKey(key({ keyId, creationDate: created, keyState: 'PendingDeletion', deletionDate: new Date(now.getTime() - 1), pendingDeletionWindowInDays: 7 }));
        const seen: string[] = [];
        let after: { creationDate: Date; keyId: string } | undefined;
        for (let batch = 0; batch < 5; batch++) {
          const due = await store.listKeysDue(now, 2, after);
          seen.push(...due.map((k) => k.keyId));
          if (due.length < 2) break;
          after = { creationDate: due.at(-1)!.creationDate, keyId: due.at(-1)!.keyId };
        }
        expect(seen).toEqual([...ids].sort());
      });
    });

    describe('key material versions', () => {
      it('round-trips versions, bytes intact, oldest first', async () => {
        const k = key({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' });
        await store.insertKey(k);
        const newer = version(k.keyId, { createdAt: new Date('2026-03-01T00:00:00.002Z'), rotationType: 'ON_DEMAND', publicKey: new Uint8Array([0x30, 0, 255]) });
        const older = version(k.keyId, { createdAt: new Date('2026-03-01T00:00:00.001Z'), rotationType: 'AUTOMATIC' });
        const first = version(k.keyId, { createdAt: new Date('2026-01-01T00:00:00.000Z') });
        for (const v of [newer, older, first]) await store.insertKeyVersion(v);
        expect(normaliseBytes(await store.getKeyVersion(k.keyId, newer.versionId))).toStrictEqual(normaliseBytes(newer));
        const listed = await store.listKeyVersions(k.keyId);
        expect(normaliseBytes(listed)).toStrictEqual(normaliseBytes([first, older, newer]));
        expect(listed[0] && 'publicKey' in listed[0]).toBe(false);
      });

      it('finds a version only under its own key', async () => {
        const a = key();
        const b = key();
        await store.insertKey(a);
        await store.insertKey(b);
        const v = version(a.keyId);
        await store.insertKeyVersion(v);
        expect(await store.getKeyVersion(b.keyId, v.versionId)).toBeUndefined();
        expect(await store.getKeyVersion(a.keyId, 'f'.repeat(64))).toBeUndefined();
      });

      it('rejects a duplicate version with a StoreError conflict', async () => {
        const k = key();
        await store.insertKey(k);
        const v = version(k.keyId);
        await store.insertKeyVersion(v);
        await expect(store.insertKeyVersion({ ...v, wrappedMaterial: new Uint8Array([1]) })).rejects.toMatchObject({ kind: 'conflict', record: 'key-version' });
        expect(normaliseBytes((await store.getKeyVersion(k.keyId, v.versionId))?.wrappedMaterial)).toEqual(normaliseBytes(v.wrappedMaterial));
      });

      it('refuses a version for a key that does not exist', async () => {
        await expect(store.insertKeyVersion(version('no-such-key'))).rejects.toThrow();
      });

      it('deletes all versions of one key', async () => {
        const a = key();
        const b = key();
        await store.insertKey(a);
        await store.insertKey(b);
        await store.insertKeyVersion(version(a.keyId));
        await store.insertKeyVersion(version(a.keyId));
        await store.insertKeyVersion(version(b.keyId));
        await store.deleteKeyVersions(a.keyId);
        expect(await store.listKeyVersions(a.keyId)).toEqual([]);
        expect(await store.listKeyVersions(b.keyId)).toHaveLength(1);
        expect(await store.getKey(a.keyId)).toBeDefined();
      });

      it('deletes one version, served fresh afterwards', async () => {
        const k = key();
        await store.insertKey(k);
        const [v1, v2] = [version(k.keyId), version(k.keyId)];
        await store.insertKeyVersion(v1);
        await store.insertKeyVersion(v2);
        expect(await store.getKeyVersion(k.keyId, v1.versionId)).toBeDefined();
        await store.deleteKeyVersion(k.keyId, v1.versionId);
        expect(await store.getKeyVersion(k.keyId, v1.versionId)).toBeUndefined();
        expect((await store.listKeyVersions(k.keyId)).map((v) => v.versionId)).toEqual([v2.versionId]);
      });
    });

    describe('imported key materials', () => {
      it('round-trips every field, replaces on put, lists in import order, and goes with its key', async () => {
        const k = key({ origin: 'EXTERNAL' });
        await store.insertKey(k);
        const first = { keyId: k.keyId, versionId: 'a'.repeat(64), pendingRotation: false, importedAt: new Date('2026-01-01T00:00:00.001Z') };
        const full = {
          keyId: k.keyId,
          versionId: 'b'.repeat(64),
          description: 'second material',
          expirationModel: 'KEY_MATERIAL_EXPIRES' as const,
          validTo: new Date('2027-01-01T00:00:00.123Z'),
          pendingRotation: true,
          importedAt: new Date('2026-02-01T00:00:00.002Z'),
        };
        await store.putImportedMaterial(full);
        await store.putImportedMaterial(first);
        expect(await store.listImportedMaterials(k.keyId)).toEqual([first, full]);
        const rotated = { ...full, pendingRotation: false, rotatedAt: new Date('2026-03-01T00:00:00.003Z'), rotationType: 'ON_DEMAND' as const };
        await store.putImportedMaterial(rotated);
        expect(await store.listImportedMaterials(k.keyId)).toEqual([first, rotated]);
        await store.deleteImportedMaterial(k.keyId, first.versionId);
        expect(await store.listImportedMaterials(k.keyId)).toEqual([rotated]);
        await store.transaction(async (tx) => tx.putImportedMaterial(first));
        await store.deleteKey(k.keyId);
        expect(await store.listImportedMaterials(k.keyId)).toEqual([]);
      });
    });

    describe('aliases', () => {
      it('round-trips an alias and rejects a duplicate name with a conflict naming the alias ARN', async () => {
        const k = key();
        await store.insertKey(k);
        const a = alias('alias/app', k.keyId);
        await store.insertAlias(a);
        expect(await store.getAlias('alias/app')).toStrictEqual(a);
        expect(await store.getAlias('alias/other')).toBeUndefined();
        const error = await store.insertAlias(a).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ kind: 'conflict', record: 'alias', subject: a.aliasArn });
      });

      it('retargets an alias and keeps its creation date', async () => {
        const from = key();
        const to = key();
        await store.insertKey(from);
        await store.insertKey(to);
        const a = alias('alias/app', from.keyId);
        await store.insertAlias(a);
        const moved = { ...a, targetKeyId: to.keyId, lastUpdatedDate: new Date('2026-09-09T09:09:09.999Z') };
        await store.updateAlias(moved);
        expect(await store.getAlias('alias/app')).toStrictEqual(moved);
        expect(await store.countAliases(from.keyId)).toBe(0);
        expect(await store.countAliases(to.keyId)).toBe(1);
      });

      it('refuses to update an alias that does not exist', async () => {
        const k = key();
        await store.insertKey(k);
        const ghost = alias('alias/ghost', k.keyId);
        await expect(store.updateAlias(ghost)).rejects.toMatchObject({ kind: 'not-found', record: 'alias', subject: ghost.aliasArn });
        expect(await store.getAlias('alias/ghost')).toBeUndefined();
      });

      it('deletes an alias', async () => {
        const k = key();
        await store.insertKey(k);
        await store.insertAlias(alias('alias/app', k.keyId));
        await store.deleteAlias('alias/app');
        expect(await store.getAlias('alias/app')).toBeUndefined();
        await store.deleteAlias('alias/app');
      });

      it('lists aliases by name, for all keys or one, in pages', async () => {
        const a = key();
        const b = key();
        await store.insertKey(a);
        await store.insertKey(b);
        for (const name of ['alias/c', 'alias/a', 'alias/e', 'alias/b', 'alias/d']) {
          await store.insertAlias(alias(name, name < 'alias/d' ? a.keyId : b.keyId));
        }
        const names: string[] = [];
        let after: { aliasName: string } | undefined;
        for (;;) {
          const page = await store.listAliases({ limit: 2, ...(after ? { after } : {}) });
          names.push(...page.items.map((x) => x.aliasName));
          if (!page.more) break;
          after = { aliasName: page.items.at(-1)!.aliasName };
        }
        expect(names).toEqual(['alias/a', 'alias/b', 'alias/c', 'alias/d', 'alias/e']);

        const forA = await store.listAliases({ keyId: a.keyId, limit: 2 });
        expect(forA.items.map((x) => x.aliasName)).toEqual(['alias/a', 'alias/b']);
        expect(forA.more).toBe(true);
        const restOfA = await store.listAliases({ keyId: a.keyId, limit: 2, after: { aliasName: 'alias/b' } });
        expect(restOfA.items.map((x) => x.aliasName)).toEqual(['alias/c']);
        expect(restOfA.more).toBe(false);
        expect(await store.countAliases(a.keyId)).toBe(3);
        expect(await store.countAliases('no-such-key')).toBe(0);
      });

      it('refuses an alias for a key that does not exist', async () => {
        await expect(store.insertAlias(alias('alias/orphan', 'no-such-key'))).rejects.toThrow();
        expect(await store.getAlias('alias/orphan')).toBeUndefined();
      });
    });

    describe('tags', () => {
      it('adds, overwrites and removes tags', async () => {
        const k = key();
        await store.insertKey(k);
        expect(await store.getTags(k.keyId)).toEqual([]);
        await store.putTags(k.keyId, [
          { TagKey: 'team', TagValue: 'red' },
          { TagKey: 'env', TagValue: 'prod' },
        ]);
        await store.putTags(k.keyId, [
          { TagKey: 'team', TagValue: 'blue' },
          { TagKey: 'cost', TagValue: '' },
        ]);
        expect(await store.getTags(k.keyId)).toEqual([
          { TagKey: 'cost', TagValue: '' },
          { TagKey: 'env', TagValue: 'prod' },
          { TagKey: 'team', TagValue: 'blue' },
        ]);
        await store.deleteTags(k.keyId, ['env', 'missing']);
        await store.deleteTags(k.keyId, []);
        await store.putTags(k.keyId, []);
        expect((await store.getTags(k.keyId)).map((t) => t.TagKey)).toEqual(['cost', 'team']);
      });

      it('takes the last value when one call repeats a tag key', async () => {
        const k = key();
        await store.insertKey(k);
        await store.putTags(k.keyId, [
          { TagKey: 'team', TagValue: 'red' },
          { TagKey: 'team', TagValue: 'green' },
        ]);
        expect(await store.getTags(k.keyId)).toEqual([{ TagKey: 'team', TagValue: 'green' }]);
      });

      it('keeps tags per key', async () => {
        const a = key();
        const b = key();
        await store.insertKey(a);
        await store.insertKey(b);
        await store.putTags(a.keyId, [{ TagKey: 'team', TagValue: 'a' }]);
        await store.putTags(b.keyId, [{ TagKey: 'team', TagValue: 'b' }]);
        await store.deleteTags(a.keyId, ['team']);
        expect(await store.getTags(b.keyId)).toEqual([{ TagKey: 'team', TagValue: 'b' }]);
      });
    });

    it('gives every read its own copy: changing what one caller got changes nothing another reads', async () => {
      await expectOwnCopies(store);
    });

    describe('principals and access keys', () => {
      it('round-trips principals with their roles', async () => {
        const officer = principal('officer', { roles: ['CryptoOfficer', 'Auditor'] });
        const nobody = principal('nobody', { roles: [] });
        await store.insertPrincipal(officer);
        await store.insertPrincipal(nobody);
        const stored = await store.getPrincipal(officer.arn);
        expect({ ...stored, roles: [...(stored?.roles ?? [])].sort() }).toStrictEqual({ ...officer, roles: ['Auditor', 'CryptoOfficer'] });
        expect(await store.getPrincipal(nobody.arn)).toStrictEqual(nobody);
        expect(await store.getPrincipal('arn:aws:iam::1:user/none')).toBeUndefined();
        const listed = await store.listPrincipals();
        expect(listed.map((p) => p.name).sort()).toEqual(['nobody', 'officer']);
        expect(listed.find((p) => p.name === 'officer')?.roles.sort()).toEqual(['Auditor', 'CryptoOfficer']);
      });

      it('rejects a duplicate principal without changing the first', async () => {
        const p = principal('alice', { roles: ['CryptoUser'] });
        await store.insertPrincipal(p);
        await expect(store.insertPrincipal({ ...p, roles: ['CryptoOfficer'] })).rejects.toMatchObject({ kind: 'conflict', record: 'principal', subject: p.arn });
        expect((await store.getPrincipal(p.arn))?.roles).toEqual(['CryptoUser']);
      });

      it('round-trips access keys with the sealed secret intact', async () => {
        const p = principal('bob');
        await store.insertPrincipal(p);
        const ak = accessKey(p.arn);
        await store.insertAccessKey(ak);
        expect(normaliseBytes(await store.getAccessKey(ak.accessKeyId))).toStrictEqual(normaliseBytes(ak));
        expect(await store.getAccessKey('AKIANOTHERE')).toBeUndefined();
        await expect(store.insertAccessKey(ak)).rejects.toMatchObject({ kind: 'conflict', record: 'access-key' });
      });
    });

    describe('import tokens', () => {
      it('round-trips tokens and deletes them by key and by expiry', async () => {
        const a = key({ origin: 'EXTERNAL', keyState: 'PendingImport' });
        const b = key({ origin: 'EXTERNAL', keyState: 'PendingImport' });
        await store.insertKey(a);
        await store.insertKey(b);
        const now = new Date('2026-04-06T00:00:00.000Z');
        const expired = importToken(a.keyId, { expiresAt: new Date(now.getTime() - 1) });
        const expiresNow = importToken(b.keyId, { expiresAt: now });
        const valid = importToken(b.keyId, { expiresAt: new Date(now.getTime() + 1) });
        const otherOfA = importToken(a.keyId, { expiresAt: new Date(now.getTime() + 1) });
        for (const t of [expired, expiresNow, valid, otherOfA]) await store.insertImportToken(t);
        expect(normaliseBytes(await store.getImportToken(valid.tokenId))).toStrictEqual(normaliseBytes(valid));
        await expect(store.insertImportToken(valid)).rejects.toMatchObject({ kind: 'conflict', record: 'import-token' });

        expect(await store.deleteExpiredImportTokens(now)).toBe(2);
        expect(await store.getImportToken(expired.tokenId)).toBeUndefined();
        expect(await store.getImportToken(expiresNow.tokenId)).toBeUndefined();
        expect(await store.getImportToken(valid.tokenId)).toBeDefined();

        await store.deleteImportTokens(a.keyId);
        expect(await store.getImportToken(otherOfA.tokenId)).toBeUndefined();
        expect(await store.getImportToken(valid.tokenId)).toBeDefined();
      });
    });

    describe('material destructions', () => {
      const destruction = (keyId: string, notBefore: Date, overrides: Partial<MaterialDestruction> = {}): MaterialDestruction => ({
        keyId,
        versionId: version(keyId).versionId,
        keySpec: 'ECC_NIST_EDWARDS25519',
        wrappedMaterial: new Uint8Array(randomBytes(20)),
        createdAt: new Date('2026-04-01T00:00:00.001Z'),
        notBefore,
        attempts: 0,
        ...overrides,
      });
      const now = new Date('2026-04-06T00:00:00.000Z');
      const at = (ms: number) => new Date(now.getTime() + ms);

      it('round-trips records and lists those due, earliest first, up to the limit', async () => {
        const late = destruction(nextKeyId(), at(-1), { attempts: 3 });
        const early = destruction(nextKeyId(), at(-1000));
        const dueNow = destruction(nextKeyId(), now);
        const notYet = destruction(nextKeyId(), at(1));
        for (const d of [late, early, dueNow, notYet]) await store.insertMaterialDestruction(d);
        expect(normaliseBytes(await store.listMaterialDestructionsDue(now, 10))).toStrictEqual(normaliseBytes([early, late, dueNow]));
        expect((await store.listMaterialDestructionsDue(now, 2)).map((d) => d.keyId)).toEqual([early.keyId, late.keyId]);
        await expect(store.insertMaterialDestruction(early)).rejects.toMatchObject({ kind: 'conflict', record: 'material-destruction' });
        await store.deleteMaterialDestruction(early.keyId, early.versionId);
        expect((await store.listMaterialDestructionsDue(now, 10)).map((d) => d.keyId)).toEqual([late.keyId, dueNow.keyId]);
        // A record waiting longer than any wait is (the clock was set back) is due too.
        const setBack = destruction(nextKeyId(), at(7_200_000));
        await store.insertMaterialDestruction(setBack);
        expect((await store.listMaterialDestructionsDue(now, 10, at(3_600_000))).map((d) => d.keyId)).toEqual([late.keyId, dueNow.keyId, setBack.keyId]);
        expect((await store.listMaterialDestructionsDue(now, 10, at(7_200_000))).map((d) => d.keyId)).toEqual([late.keyId, dueNow.keyId]);
      });

      it('claims each attempt once: from the count read, raising it and moving notBefore', async () => {
        const d = destruction(nextKeyId(), at(-1));
        await store.insertMaterialDestruction(d);
        expect(await store.claimMaterialDestruction(d.keyId, d.versionId, 0, at(30_000))).toBe(true);
        // A second process that read the same count does not begin the same attempt.
        expect(await store.claimMaterialDestruction(d.keyId, d.versionId, 0, at(30_000))).toBe(false);
        expect(await store.listMaterialDestructionsDue(now, 10)).toEqual([]);
        expect(await store.listMaterialDestructionsDue(at(30_000), 10)).toMatchObject([{ keyId: d.keyId, attempts: 1, notBefore: at(30_000) }]);
        expect(await store.claimMaterialDestruction(d.keyId, d.versionId, 1, at(60_000))).toBe(true);
        expect(await store.claimMaterialDestruction('no-such-key', d.versionId, 0, at(1))).toBe(false);
      });

      it('neither lists nor claims a record while a key of its id exists', async () => {
        const k = key();
        await store.insertKey(k);
        const d = destruction(k.keyId, at(-1));
        await store.insertMaterialDestruction(d);
        expect(await store.listMaterialDestructionsDue(now, 10)).toEqual([]);
        expect(await store.claimMaterialDestruction(d.keyId, d.versionId, 0, at(1))).toBe(false);
        await store.deleteKey(k.keyId);
        expect(await store.listMaterialDestructionsDue(now, 10)).toMatchObject([{ keyId: k.keyId, attempts: 0 }]);
        expect(await store.claimMaterialDestruction(d.keyId, d.versionId, 0, at(1))).toBe(true);
      });

      it('withdraws a record only before an attempt on it has begun, and inside a transaction with the key', async () => {
        const k = key();
        const d = destruction(k.keyId, at(60_000));
        await store.insertMaterialDestruction(d);
        await store.transaction(async (tx) => {
          expect(await tx.withdrawMaterialDestruction(d.keyId, d.versionId)).toBe(true);
          await tx.insertKey(k);
        });
        expect(await store.listMaterialDestructionsDue(at(60_000), 10)).toEqual([]);
        const claimed = destruction(nextKeyId(), at(-1));
        await store.insertMaterialDestruction(claimed);
        expect(await store.claimMaterialDestruction(claimed.keyId, claimed.versionId, 0, at(1))).toBe(true);
        expect(await store.withdrawMaterialDestruction(claimed.keyId, claimed.versionId)).toBe(false);
        expect(await store.listMaterialDestructionsDue(at(1), 10)).toMatchObject([{ keyId: claimed.keyId }]);
        // A rolled-back transaction keeps the record.
        const kept = destruction(nextKeyId(), at(-1));
        await store.insertMaterialDestruction(kept);
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.withdrawMaterialDestruction(kept.keyId, kept.versionId)).toBe(true);
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect((await store.listMaterialDestructionsDue(now, 10)).map((d) => d.keyId)).toEqual([kept.keyId]);
      });
    });

    describe('transactions', () => {
      it('commits every write and returns the callback result', async () => {
        const k = key();
        const v = version(k.keyId);
        const result = await store.transaction(async (tx) => {
          await tx.insertKey(k);
          await tx.insertKeyVersion(v);
          await tx.insertAlias(alias('alias/tx', k.keyId));
          expect(await tx.getKey(k.keyId)).toBeDefined();
          return 'done';
        });
        expect(result).toBe('done');
        expect(await store.getKey(k.keyId)).toBeDefined();
        expect(await store.getKeyVersion(k.keyId, v.versionId)).toBeDefined();
        expect(await store.getAlias('alias/tx')).toBeDefined();
      });

      it('rolls back every write when the callback throws, and rethrows the same error', async () => {
        const existing = key();
        await store.insertKey(existing);
        const k = key();
        const boom = new Error('boom');
        const error = await store
          .transaction(async (tx) => {
            await tx.insertKey(k);
            await tx.insertKeyVersion(version(k.keyId));
            await tx.insertAlias(alias('alias/rolled-back', k.keyId));
            await tx.putTags(existing.keyId, [{ TagKey: 't', TagValue: 'v' }]);
            expect(await tx.updateKey({ ...existing, description: 'changed', revision: 2 })).toBe(true);
            await tx.deleteKey(existing.keyId);
            throw boom;
          })
          .catch((e: unknown) => e);
        expect(error).toBe(boom);
        expect(await store.getKey(k.keyId)).toBeUndefined();
        expect(await store.listKeyVersions(k.keyId)).toEqual([]);
        expect(await store.getAlias('alias/rolled-back')).toBeUndefined();
        expect(await store.getTags(existing.keyId)).toEqual([]);
        expect(await store.getKey(existing.keyId)).toStrictEqual(existing);
        expect(await store.countKeys()).toBe(1);
      });

      it('rolls back when a StoreError from the store itself escapes the callback', async () => {
        const k = key();
        await store.insertKey(k);
        await store.insertAlias(alias('alias/taken', k.keyId));
        const other = key();
        await expect(
          store.transaction(async (tx) => {
            await tx.insertKey(other);
            await tx.insertAlias(alias('alias/taken', other.keyId));
          }),
        ).rejects.toMatchObject({ kind: 'conflict', record: 'alias' });
        expect(await store.getKey(other.keyId)).toBeUndefined();
      });

      it('runs concurrent transactions one after another without losing either', async () => {
        const keys = [key(), key(), key(), key()];
        await Promise.all(
          keys.map((k) =>
            store.transaction(async (tx) => {
              await tx.insertKey(k);
              await new Promise((r) => setTimeout(r, 2));
              await tx.insertKeyVersion(version(k.keyId));
            }),
          ),
        );
        expect(await store.countKeys()).toBe(4);
        for (const k of keys) expect(await store.listKeyVersions(k.keyId)).toHaveLength(1);
      });

      it('throws instead of deadlocking when the store itself is used inside its transaction', async () => {
        const k = key();
        await store.insertKey(k);
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.updateKey({ ...k, description: 'locked', revision: 2 })).toBe(true);
            // Around tx: would wait for the connection (SQLite) or the row lock (PostgreSQL) tx holds.
            await store.updateKey({ ...k, description: 'around', revision: 2 });
          }),
        ).rejects.toThrow(/use the tx repository/);
        await expect(store.transaction(async () => store.transaction(async () => 1))).rejects.toThrow(/inside a transaction callback/);
        // Both were rolled back and the store still works.
        expect(await store.getKey(k.keyId)).toStrictEqual(k);
        expect(await store.updateKey({ ...k, description: 'after', revision: 2 })).toBe(true);
      });

      it('never shows a reader outside the transaction a write that is rolled back', async () => {
        const ghost = key();
        let inserted!: () => void;
        let release!: () => void;
        const insertedSignal = new Promise<void>((r) => (inserted = r));
        const releaseSignal = new Promise<void>((r) => (release = r));
        const running = store.transaction(async (tx) => {
          await tx.insertKey(ghost);
          inserted();
          await releaseSignal;
          throw new Error('roll back');
        });
        await insertedSignal;
        // Another request reads while the transaction is open (it may wait for it to end).
        const read = store.getKey(ghost.keyId);
        const list = store.listKeys(10);
        await new Promise((r) => setTimeout(r, 5));
        release();
        await expect(running).rejects.toThrow('roll back');
        expect(await read).toBeUndefined();
        expect((await list).items).toEqual([]);
      });
    });
  });
}

/**
 * Reads served from a store's cache (keys, versions, principal authorization, quorum rules) are
 * the caller's to change; the next read still returns what was stored.
 */
export async function expectOwnCopies(store: MetadataStore): Promise<void> {
  const k = key();
  const v = version(k.keyId);
  const p = principal('copied');
  const a = accessKey(p.arn);
  await store.insertKey(k);
  await store.insertKeyVersion(v);
  await store.insertPrincipal(p);
  await store.insertAccessKey(a);
  const rule = { ruleId: 'qr-copies', action: 'kms:ScheduleKeyDeletion', taggedKeysOnly: false, minApprovals: 1, approvers: ['arn:aws:iam::111122223333:user/a'], createdAt: new Date(1_800_000_000_000), updatedAt: new Date(1_800_000_000_000) };
  await store.putQuorumRule(rule);
  for (let read = 0; read < 2; read++) {
    // Twice: the first read may fill a cache, the second is served from it.
    const gotKey = (await store.getKey(k.keyId))!;
    gotKey.description = 'changed by a caller';
    const gotVersion = (await store.getKeyVersion(k.keyId, v.versionId))!;
    gotVersion.versionId = 'changed';
    const found = (await store.getPrincipalAuthorization(p.arn, a.accessKeyId))!;
    found.policies.push({ policyName: 'changed', document: '{}' });
    found.tags.push({ TagKey: 'changed', TagValue: '' });
    const rules = await store.listQuorumRules();
    rules[0]!.approvers.push('changed');
    rules.push({ ...rule, ruleId: 'changed' });
  }
  expect((await store.getKey(k.keyId))?.description).toBe(k.description);
  expect((await store.getKeyVersion(k.keyId, v.versionId))?.versionId).toBe(v.versionId);
  const found = await store.getPrincipalAuthorization(p.arn, a.accessKeyId);
  expect([found?.policies, found?.tags]).toStrictEqual([[], []]);
  expect(await store.listQuorumRules()).toStrictEqual([rule]);
}
