/**
 * The custom key store part of the MetadataStore contract (`store.keyStores`), run by
 * describeMetadataStoreContract for every store implementation.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/store-error.js';
import type { CustomKeyStoreRecord } from '../../src/core/key-stores/model.js';
import type { MetadataStore } from '../../src/core/ports.js';
import { key } from './fixtures.js';

let sequence = 0;
function cloudHsmStore(overrides: Partial<CustomKeyStoreRecord> = {}): CustomKeyStoreRecord {
  sequence += 1;
  return {
    customKeyStoreId: `cks-${sequence.toString(16).padStart(17, '0')}`,
    name: `store ${sequence}`,
    type: 'AWS_CLOUDHSM',
    creationDate: new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)),
    connectionState: 'DISCONNECTED',
    cloudHsmClusterId: `cluster-${sequence}`,
    sealedPassword: new Uint8Array(randomBytes(40)),
    revision: 1,
    ...overrides,
  };
}

function externalStore(overrides: Partial<CustomKeyStoreRecord> = {}): CustomKeyStoreRecord {
  const { cloudHsmClusterId: _c, sealedPassword: _p, ...base } = cloudHsmStore();
  return {
    ...base,
    type: 'EXTERNAL_KEY_STORE',
    xksProxy: {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/tenant/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT',
      accessKeyId: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
      sealedSecretAccessKey: new Uint8Array(randomBytes(60)),
    },
    ...overrides,
  };
}

export function describeKeyStoreRepositoryContract(store: () => MetadataStore): void {
  describe('custom key stores', () => {
    it('round-trips both store types, with absent fields absent', async () => {
      const cloud = cloudHsmStore({ trustAnchorCertificate: '-----BEGIN CERTIFICATE-----…', connectionState: 'FAILED', connectionErrorCode: 'INVALID_CREDENTIALS' });
      const external = externalStore();
      await store().keyStores.insertCustomKeyStore(cloud);
      await store().keyStores.insertCustomKeyStore(external);
      expect(await store().keyStores.getCustomKeyStore(cloud.customKeyStoreId)).toStrictEqual(cloud);
      expect(await store().keyStores.getCustomKeyStore(external.customKeyStoreId)).toStrictEqual(external);
      expect(await store().keyStores.getCustomKeyStoreByName(external.name)).toStrictEqual(external);
      expect(await store().keyStores.getCustomKeyStore('cks-none')).toBeUndefined();
      expect(await store().keyStores.countCustomKeyStores()).toBe(2);
    });

    it('refuses a second store with the same name or the same cluster', async () => {
      const first = cloudHsmStore();
      await store().keyStores.insertCustomKeyStore(first);
      for (const duplicate of [cloudHsmStore({ name: first.name }), cloudHsmStore({ cloudHsmClusterId: first.cloudHsmClusterId })]) {
        const error = await store().keyStores.insertCustomKeyStore(duplicate).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ kind: 'conflict', record: 'custom-key-store' });
      }
      expect(await store().keyStores.countCustomKeyStores()).toBe(1);
    });

    it('updates optimistically by revision and deletes', async () => {
      const s = cloudHsmStore();
      await store().keyStores.insertCustomKeyStore(s);
      expect(await store().keyStores.updateCustomKeyStore({ ...s, connectionState: 'CONNECTING', revision: 2 })).toBe(true);
      expect(await store().keyStores.updateCustomKeyStore({ ...s, connectionState: 'FAILED', revision: 2 })).toBe(false);
      expect((await store().keyStores.getCustomKeyStore(s.customKeyStoreId))?.connectionState).toBe('CONNECTING');
      await store().keyStores.deleteCustomKeyStore(s.customKeyStoreId);
      expect(await store().keyStores.getCustomKeyStore(s.customKeyStoreId)).toBeUndefined();
    });

    it('pages in creation order, resuming after a position', async () => {
      const stores = [cloudHsmStore(), externalStore(), cloudHsmStore()];
      for (const s of stores) await store().keyStores.insertCustomKeyStore(s);
      const first = await store().keyStores.listCustomKeyStores(2);
      expect(first.items.map((s) => s.customKeyStoreId)).toEqual(stores.slice(0, 2).map((s) => s.customKeyStoreId));
      expect(first.more).toBe(true);
      const last = first.items.at(-1)!;
      const second = await store().keyStores.listCustomKeyStores(2, { creationDate: last.creationDate, customKeyStoreId: last.customKeyStoreId });
      expect(second.items.map((s) => s.customKeyStoreId)).toEqual([stores[2]!.customKeyStoreId]);
      expect(second.more).toBe(false);
    });

    it('knows which store holds a key, counts them, keeps external keys unique, and forgets deleted keys', async () => {
      const s = externalStore();
      await store().keyStores.insertCustomKeyStore(s);
      const a = key({ origin: 'EXTERNAL_KEY_STORE' });
      const b = key({ origin: 'EXTERNAL_KEY_STORE' });
      await store().transaction(async (tx) => {
        await tx.insertKey(a);
        await tx.keyStores.insertKeyStoreKey({ keyId: a.keyId, customKeyStoreId: s.customKeyStoreId, xksKeyId: 'ext-1' });
      });
      await store().insertKey(b);
      const duplicate = await store().keyStores.insertKeyStoreKey({ keyId: b.keyId, customKeyStoreId: s.customKeyStoreId, xksKeyId: 'ext-1' }).catch((e: unknown) => e);
      expect(duplicate).toBeInstanceOf(StoreError);
      expect(duplicate).toMatchObject({ kind: 'conflict', record: 'custom-key-store-key' });
      expect(await store().keyStores.getKeyStoreKey(a.keyId)).toStrictEqual({ keyId: a.keyId, customKeyStoreId: s.customKeyStoreId, xksKeyId: 'ext-1' });
      expect(await store().keyStores.findKeyByXksKeyId(s.customKeyStoreId, 'ext-1')).toMatchObject({ keyId: a.keyId });
      expect(await store().keyStores.countKeysInCustomKeyStore(s.customKeyStoreId)).toBe(1);
      await store().deleteKey(a.keyId);
      expect(await store().keyStores.getKeyStoreKey(a.keyId)).toBeUndefined();
      expect(await store().keyStores.countKeysInCustomKeyStore(s.customKeyStoreId)).toBe(0);
    });

    it('rolls a key store binding back with its transaction', async () => {
      const s = cloudHsmStore();
      await store().keyStores.insertCustomKeyStore(s);
      const k = key({ origin: 'AWS_CLOUDHSM' });
      await expect(
        store().transaction(async (tx) => {
          await tx.insertKey(k);
          await tx.keyStores.insertKeyStoreKey({ keyId: k.keyId, customKeyStoreId: s.customKeyStoreId });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await store().keyStores.getKeyStoreKey(k.keyId)).toBeUndefined();
      expect(await store().getKey(k.keyId)).toBeUndefined();
    });
  });

  describe('XKS proxy credentials', () => {
    it('stores, lists by prefix and deletes credentials', async () => {
      const a = { accessKeyId: 'AAAAAAAAAAAAAAAAAAAAAAAAA2', uriPrefix: 'tenant/a', sealedSecret: new Uint8Array(randomBytes(50)), createdAt: new Date(1_790_000_000_001) };
      const b = { ...a, accessKeyId: 'BBBBBBBBBBBBBBBBBBBBBBBBB3', uriPrefix: '' };
      await store().keyStores.insertXksCredential(a);
      await store().keyStores.insertXksCredential(b);
      expect(await store().keyStores.getXksCredential(a.accessKeyId)).toStrictEqual(a);
      expect((await store().keyStores.listXksCredentials()).map((c) => c.accessKeyId)).toEqual([b.accessKeyId, a.accessKeyId]);
      expect(await store().keyStores.deleteXksCredential(a.accessKeyId)).toBe(true);
      expect(await store().keyStores.deleteXksCredential(a.accessKeyId)).toBe(false);
      expect(await store().keyStores.getXksCredential(a.accessKeyId)).toBeUndefined();
    });
  });
}
