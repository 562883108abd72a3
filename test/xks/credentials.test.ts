/**
 * The XKS credential resolver on the real SQLite store and the run's SoftHSM2 token: a secret is
 * unsealed once while cached, again after `ttlMs`, and a deleted credential stops resolving then.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyBackend } from '../../src/core/ports.js';
import { createXksCredential, createXksCredentialResolver } from '../../src/xks/credentials.js';
import { createTestKms, type TestKms } from '../support/kms-deps.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

describe('XKS credential resolver', () => {
  it('keeps an unsealed secret for ttlMs, then reads the store again', async () => {
    let unseals = 0;
    const backend = Object.create(kms.backend) as KeyBackend;
    backend.unsealSecret = async (sealed) => {
      unseals++;
      return kms.backend.unsealSecret(sealed);
    };
    let now = 1_000_000;
    const credential = await createXksCredential(kms.store, kms.backend, 'tenant/a', new Date());
    const resolver = createXksCredentialResolver(kms.store, backend, { ttlMs: 30_000, now: () => now });
    expect(await resolver.resolve(credential.accessKeyId)).toStrictEqual({ uriPrefix: 'tenant/a', secretAccessKey: credential.secretAccessKey });
    now += 29_999;
    await resolver.resolve(credential.accessKeyId);
    expect(unseals).toBe(1);
    now += 1;
    await resolver.resolve(credential.accessKeyId);
    expect(unseals).toBe(2);

    await kms.store.keyStores.deleteXksCredential(credential.accessKeyId);
    expect(await resolver.resolve(credential.accessKeyId)).toBeDefined(); // cached; no bus told this resolver
    now += 30_000;
    expect(await resolver.resolve(credential.accessKeyId)).toBeUndefined();
  });
});
