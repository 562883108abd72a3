/**
 * Principals, access keys and root credentials on the real SQLite store and the real PKCS#11
 * backend (secrets sealed in the run's SoftHSM2 token).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrincipal, ensureRootCredentials } from '../../src/auth/principals.js';
import { createStoreCredentialResolver } from '../../src/auth/credentials.js';
import { KmsError } from '../../src/core/errors.js';
import type { KeyBackend } from '../../src/core/ports.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../support/kms-deps.js';

let kms: TestKms;
const dirs: string[] = [];

beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-auth-'));
  dirs.push(dir);
  return dir;
}

/** The real backend, counting unseal calls (to observe the resolver's cache). */
function counting(backend: KeyBackend): { backend: KeyBackend; unseals: () => number } {
  let count = 0;
  const wrapped = Object.create(backend) as KeyBackend;
  wrapped.unsealSecret = async (sealed) => {
    count++;
    return backend.unsealSecret(sealed);
  };
  return { backend: wrapped, unseals: () => count };
}

async function kmsErrorOf(promise: Promise<unknown>): Promise<KmsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KmsError);
  return error as KmsError;
}

describe('createPrincipal', () => {
  it('creates a user with an AWS-shaped access key whose secret is stored only sealed', async () => {
    const created = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'alice', ['CryptoUser', 'Auditor']);
    expect(created.arn).toBe('arn:aws:iam::111122223333:user/alice');
    expect(created.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(created.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);

    const record = await kms.store.getAccessKey(created.accessKeyId);
    expect(record).toMatchObject({ principalArn: created.arn, status: 'Active' });
    expect(Buffer.from(record!.sealedSecret).includes(Buffer.from(created.secretAccessKey))).toBe(false);
    const stored = await kms.store.getPrincipal(created.arn);
    expect(stored?.name).toBe('alice');
    expect([...stored!.roles].sort()).toEqual(['Auditor', 'CryptoUser']);

    const resolved = await createStoreCredentialResolver(kms.store, kms.backend).resolve(created.accessKeyId);
    expect(resolved?.secretAccessKey).toBe(created.secretAccessKey);
    expect(resolved?.principal.arn).toBe(created.arn);
  });

  it('defaults to the CryptoUser role and accepts every IAM name character', async () => {
    const created = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'svc+a=b,c.d@e_f-g');
    expect((await kms.store.getPrincipal(created.arn))?.roles).toEqual(['CryptoUser']);
    await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'x'.repeat(64));
  });

  it('refuses a duplicate name with a clear error and writes nothing', async () => {
    await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'bob');
    const error = await kmsErrorOf(createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'bob'));
    expect(error.type).toBe('AlreadyExistsException');
    expect(error.message).toContain("'bob' already exists");
    expect((await kms.store.listPrincipals()).filter((p) => p.name === 'bob')).toHaveLength(1);
  });

  it('refuses names IAM would refuse', async () => {
    for (const name of ['', 'x'.repeat(65), 'a b', 'a/b', 'é', 'a:b']) {
      const error = await kmsErrorOf(createPrincipal(kms.store, kms.backend, TEST_SETTINGS, name));
      expect(error.type).toBe('ValidationException');
    }
    expect(await kms.store.listPrincipals()).toHaveLength(0);
  });
});

describe('ensureRootCredentials', () => {
  it('generates root credentials into a 0600 file on first start and reuses them after', async () => {
    const file = join(tempDir(), 'root-credentials.json');
    const first = await ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { file });
    expect(first).toMatchObject({ generated: true, file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
    expect(saved.accessKeyId).toBe(first.accessKeyId);

    const again = await ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { file });
    expect(again).toMatchObject({ generated: false, accessKeyId: first.accessKeyId });

    const resolved = await createStoreCredentialResolver(kms.store, kms.backend).resolve(first.accessKeyId);
    expect(resolved?.secretAccessKey).toBe(saved.secretAccessKey);
    expect(resolved?.principal.arn).toBe('arn:aws:iam::111122223333:root');
    expect([...resolved!.principal.roles].sort()).toEqual(['Auditor', 'CryptoOfficer', 'CryptoUser']);
  });

  it('registers a file left by a start that crashed before storing it', async () => {
    const file = join(tempDir(), 'root.json');
    writeFileSync(file, JSON.stringify({ accessKeyId: 'AKIAFROMCRASHEDSTART', secretAccessKey: 'crash-secret' }), { mode: 0o600 });
    const result = await ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { file });
    expect(result).toMatchObject({ generated: false, accessKeyId: 'AKIAFROMCRASHEDSTART' });
    expect((await createStoreCredentialResolver(kms.store, kms.backend).resolve('AKIAFROMCRASHEDSTART'))?.secretAccessKey).toBe('crash-secret');
  });

  it('refuses a credentials file other users can read', async () => {
    const file = join(tempDir(), 'root.json');
    writeFileSync(file, JSON.stringify({ accessKeyId: 'AKIAWORLDREADABLE000', secretAccessKey: 's' }));
    chmodSync(file, 0o644);
    await expect(ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { file })).rejects.toThrow(/chmod 600/);
  });

  it('registers credentials from the environment once, and refuses the same id with another secret', async () => {
    const env = { accessKeyId: 'AKIAENVIRONMENTROOT0', secretAccessKey: 'env-secret-1' };
    expect(await ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, env)).toEqual({ accessKeyId: env.accessKeyId, generated: false });
    await ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, env);
    await expect(
      ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { ...env, secretAccessKey: 'env-secret-2' }),
    ).rejects.toThrow(/different secret/);
    await expect(ensureRootCredentials(kms.store, kms.backend, TEST_SETTINGS, { accessKeyId: env.accessKeyId })).rejects.toThrow(
      /both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY/,
    );
  });
});

describe('createStoreCredentialResolver', () => {
  it('returns undefined for unknown, malformed and inactive access keys', async () => {
    const resolver = createStoreCredentialResolver(kms.store, kms.backend);
    expect(await resolver.resolve('AKIANOSUCHKEY0000000')).toBeUndefined();
    expect(await resolver.resolve('short')).toBeUndefined();
    expect(await resolver.resolve("AKIA' OR 1=1 --------")).toBeUndefined();

    const { arn } = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'carol');
    await kms.store.insertAccessKey({
      accessKeyId: 'AKIAINACTIVEKEY00000',
      principalArn: arn,
      sealedSecret: await kms.backend.sealSecret(Buffer.from('inactive')),
      createdAt: new Date(),
      status: 'Inactive',
    });
    expect(await resolver.resolve('AKIAINACTIVEKEY00000')).toBeUndefined();
  });

  it('unseals once per key while cached, bounded in size and time', async () => {
    const a = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'a');
    const b = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'b');
    const c = await createPrincipal(kms.store, kms.backend, TEST_SETTINGS, 'c');
    const { backend, unseals } = counting(kms.backend);
    let now = 1_000_000;
    const resolver = createStoreCredentialResolver(kms.store, backend, { cacheSize: 2, ttlMs: 60_000, now: () => now });

    await Promise.all([resolver.resolve(a.accessKeyId), resolver.resolve(a.accessKeyId)]);
    expect(unseals()).toBe(1); // concurrent lookups share one unseal
    await resolver.resolve(a.accessKeyId);
    expect(unseals()).toBe(1);

    await resolver.resolve(b.accessKeyId);
    await resolver.resolve(c.accessKeyId); // evicts a, the least recently used
    expect(unseals()).toBe(3);
    await resolver.resolve(c.accessKeyId);
    await resolver.resolve(b.accessKeyId);
    expect(unseals()).toBe(3);
    expect((await resolver.resolve(a.accessKeyId))?.secretAccessKey).toBe(a.secretAccessKey);
    expect(unseals()).toBe(4);

    now += 60_001; // entries expire
    await resolver.resolve(a.accessKeyId);
    expect(unseals()).toBe(5);
  });
});
