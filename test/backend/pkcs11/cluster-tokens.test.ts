/**
 * Clusters for token-backed key stores on a real SoftHSM2 token of their own: log in with the
 * store's password, keys as token objects labelled with the KMS key id, AES-GCM in the token,
 * and AWS's connection error codes for what goes wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClusterSpec, parseClusterList, Pkcs11ClusterTokens } from '../../../src/backend/pkcs11/cluster-tokens.js';
import { parseTokenKeyReference, writeTokenKeyReference } from '../../../src/backend/pkcs11/token-key-reference.js';
import { ConfigError } from '../../../src/config/hsm.js';
import { HsmError } from '../../../src/backend/pkcs11/errors.js';
import { KeyStoreConnectionError, KeyStoreKeyMissingError, type ClusterConnection } from '../../../src/core/key-stores/ports.js';
import { createTestCluster, type TestCluster } from '../../support/clusters.js';
import { env, tokenConfig } from './helpers.js';

let cluster: TestCluster;
let clusters: Pkcs11ClusterTokens;
const connections: ClusterConnection[] = [];

beforeAll(async () => {
  cluster = await createTestCluster();
  clusters = new Pkcs11ClusterTokens({
    configured: [parseClusterSpec(`c1=${env('HSMKMS_TEST_MODULE')}:${cluster.label}`)],
    defaultToken: tokenConfig(),
  });
});
afterAll(async () => {
  for (const c of connections) await c.close();
});

async function connect(password: string): Promise<ClusterConnection> {
  const c = await clusters.connect('c1', async () => password);
  connections.push(c);
  return c;
}

async function connectionError(promise: Promise<unknown>): Promise<KeyStoreConnectionError> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KeyStoreConnectionError);
  return error as KeyStoreConnectionError;
}

describe('connecting', () => {
  it('knows its clusters, and calls an unknown one CLUSTER_NOT_FOUND', async () => {
    expect(await clusters.list()).toEqual(['c1']);
    expect(await clusters.has('c1')).toBe(true);
    expect((await connectionError(clusters.connect('nope', async () => 'x'))).code).toBe('CLUSTER_NOT_FOUND');
  });

  it('reports a wrong password as INVALID_CREDENTIALS, without the password in the message', async () => {
    const error = await connectionError(connect('wrong-password'));
    expect(error.code).toBe('INVALID_CREDENTIALS');
    expect(error.message).not.toContain('wrong-password');
  });

  it('reports a configured token that is not there as CLUSTER_NOT_FOUND', async () => {
    const missing = new Pkcs11ClusterTokens({
      configured: [parseClusterSpec(`gone=${env('HSMKMS_TEST_MODULE')}:no-such-token`)],
      defaultToken: tokenConfig(),
    });
    expect((await connectionError(missing.connect('gone', async () => 'whatever'))).code).toBe('CLUSTER_NOT_FOUND');
  });

  it('refuses the default store token as a cluster', () => {
    expect(
      () => new Pkcs11ClusterTokens({ configured: [parseClusterSpec(`x=${env('HSMKMS_TEST_MODULE')}:${env('HSMKMS_TEST_TOKEN')}`)], defaultToken: tokenConfig() }),
    ).toThrow(ConfigError);
  });

  it('closes every session on close: the next login must prove the password again', async () => {
    const first = await connect(cluster.userPin);
    // While connected, a second login would find the token logged in and cannot check a password.
    expect((await connectionError(connect('another-wrong'))).code).toBe('USER_LOGGED_IN');
    await first.close();
    expect((await connectionError(connect('another-wrong'))).code).toBe('INVALID_CREDENTIALS');
  });
});

describe('keys in the cluster', () => {
  it('creates an AES-256 token object, encrypts and decrypts with it, checks the AAD, and destroys it', async () => {
    const c = await connect(cluster.userPin);
    const key = { label: 'a8a2cd0e-6a01-4c3d-9ac4-1b3a5e7f9d11', reference: await c.createKey('a8a2cd0e-6a01-4c3d-9ac4-1b3a5e7f9d11') };
    const aad = Buffer.from('header');
    const { iv, ciphertext } = await c.encrypt(key, Buffer.from('secret'), aad);
    expect(iv).toHaveLength(12);
    expect(ciphertext).toHaveLength(6 + 16);
    expect((await c.decrypt(key, iv, ciphertext, aad)).toString()).toBe('secret');
    const bad = await c.decrypt(key, iv, ciphertext, Buffer.from('other')).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(HsmError);
    expect((bad as HsmError).kind).toBe('data');
    expect(await c.check()).toBeUndefined();

    // Another object with the same label is not the key: the reference names the object's CKA_ID.
    const impostor = { label: key.label, reference: writeTokenKeyReference(Buffer.alloc(16, 7)) };
    await expect(c.encrypt(impostor, Buffer.from('x'), aad)).rejects.toBeInstanceOf(KeyStoreKeyMissingError);

    expect(await c.destroyKey(key)).toBe(true);
    await expect(c.encrypt(key, Buffer.from('x'), aad)).rejects.toBeInstanceOf(KeyStoreKeyMissingError);
    expect(await c.destroyKey(key)).toBe(false);
    await c.close();
  });
});

describe('configuration and formats', () => {
  it('parses MODULE:LABEL and pkcs11: URIs, and explains what is wrong otherwise', () => {
    expect(parseClusterSpec('prod=/usr/lib/libcloudhsm_pkcs11.so:kms:partition')).toEqual({
      id: 'prod',
      modulePath: '/usr/lib/libcloudhsm_pkcs11.so',
      token: { label: 'kms:partition' },
      profile: 'cloudhsm',
    });
    expect(parseClusterSpec('b=pkcs11:token=two;serial=42?module-path=/usr/lib/softhsm/libsofthsm2.so')).toMatchObject({
      id: 'b',
      token: { label: 'two', serial: '42' },
      profile: 'softhsm2',
    });
    for (const bad of ['nolabel', '=/x.so:t', 'a=relative.so:t', 'a=/x.so:', 'a=pkcs11:token=t', `${'x'.repeat(33)}=/x.so:t`])
      expect(() => parseClusterSpec(bad), bad).toThrow(ConfigError);
    expect(parseClusterList('a=/x.so:t1, b=/x.so:t2\n').map((c) => c.id)).toEqual(['a', 'b']);
    expect(parseClusterList(undefined)).toEqual([]);
  });

  it('writes and parses token key references, and rejects anything else', () => {
    const id = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    expect(parseTokenKeyReference(writeTokenKeyReference(id)).id.equals(id)).toBe(true);
    for (const bad of [Buffer.alloc(0), Buffer.from([1, 0x54, 5, 1]), Buffer.from([2, 0x54, 1, 1]), Buffer.from([1, 0x41, 1, 1]), Buffer.from([1, 0x54, 0])])
      expect(() => parseTokenKeyReference(bad)).toThrow(HsmError);
    expect(() => writeTokenKeyReference(Buffer.alloc(0))).toThrow(RangeError);
  });
});
