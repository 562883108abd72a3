/**
 * Token-backed custom key stores (AWS_CLOUDHSM) through the core operations, on a SoftHSM2
 * token of their own: AWS's shapes, state machine and errors, keys as token objects, and what
 * a disconnected or failed store does to its keys.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseClusterSpec, Pkcs11ClusterTokens } from '../../../src/backend/pkcs11/cluster-tokens.js';
import { KeyStoreConnections } from '../../../src/core/key-stores/connections.js';
import type { ClusterTokens } from '../../../src/core/key-stores/ports.js';
import type { JsonObject } from '../../../src/core/operation.js';
import { connectCustomKeyStore } from '../../../src/core/operations/connect-custom-key-store.js';
import { createCustomKeyStore } from '../../../src/core/operations/create-custom-key-store.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { deleteCustomKeyStore } from '../../../src/core/operations/delete-custom-key-store.js';
import { describeCustomKeyStores } from '../../../src/core/operations/describe-custom-key-stores.js';
import { describeKey } from '../../../src/core/operations/describe-key.js';
import { disconnectCustomKeyStore } from '../../../src/core/operations/disconnect-custom-key-store.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { generateDataKey } from '../../../src/core/operations/generate-data-key.js';
import { generateRandom } from '../../../src/core/operations/generate-random.js';
import { reEncrypt } from '../../../src/core/operations/re-encrypt.js';
import { enableKeyRotation } from '../../../src/core/operations/enable-key-rotation.js';
import { scheduleKeyDeletion } from '../../../src/core/operations/schedule-key-deletion.js';
import { updateCustomKeyStore } from '../../../src/core/operations/update-custom-key-store.js';
import { startScheduler } from '../../../src/core/scheduler.js';
import { createTestCluster, type TestCluster } from '../../support/clusters.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { RecordingLogger, tokenConfig } from '../../backend/pkcs11/helpers.js';
import { b64, bytesOf } from './crypto-fixtures.js';
import { call, DAY_MS, expectKmsError, expectNoWrite } from './management-support.js';
import { faultyStore } from '../material-destruction-support.js';

let cluster: TestCluster;
let otherCluster: TestCluster;
let clusters: Pkcs11ClusterTokens;
let kms: TestKms;

beforeAll(async () => {
  cluster = await createTestCluster();
  otherCluster = await createTestCluster();
  const module = process.env.HSMKMS_TEST_MODULE!;
  clusters = new Pkcs11ClusterTokens({
    configured: [parseClusterSpec(`${cluster.label}=${module}:${cluster.label}`), parseClusterSpec(`${otherCluster.label}=${module}:${otherCluster.label}`)],
    defaultToken: tokenConfig(),
  });
});

beforeEach(async () => {
  await kms?.deps.keyStores?.close();
  await kms?.close();
  kms = await createTestKms();
  kms.deps.keyStores = new KeyStoreConnections({ store: kms.store, backend: kms.backend, clusters, clock: kms.clock, logger: new RecordingLogger(), checkIntervalMs: 0 });
});
afterAll(async () => {
  await kms?.deps.keyStores?.close();
  await kms?.close();
});

async function createStore(input: JsonObject = {}): Promise<string> {
  const out = await call(kms, createCustomKeyStore, {
    CustomKeyStoreName: `store-${Math.random()}`,
    CloudHsmClusterId: cluster.label,
    KeyStorePassword: cluster.userPin,
    ...input,
  });
  return out.CustomKeyStoreId as string;
}

async function describeStore(id: string): Promise<Record<string, unknown>> {
  const out = await call(kms, describeCustomKeyStores, { CustomKeyStoreId: id });
  return (out.CustomKeyStores as Record<string, unknown>[])[0]!;
}

/** Connect or disconnect, then wait for the background move to end. */
async function settle(operation: typeof connectCustomKeyStore, id: string): Promise<Record<string, unknown>> {
  await call(kms, operation, { CustomKeyStoreId: id });
  await kms.deps.keyStores!.idle();
  return describeStore(id);
}

async function connectedStore(): Promise<string> {
  const id = await createStore();
  expect((await settle(connectCustomKeyStore, id)).ConnectionState).toBe('CONNECTED');
  return id;
}

async function keyIn(storeId: string): Promise<string> {
  const out = await call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, Description: 'in the token' });
  return (out.KeyMetadata as { KeyId: string }).KeyId;
}

describe('CreateCustomKeyStore and DescribeCustomKeyStores', () => {
  it('creates a DISCONNECTED store and describes it as AWS does, without its password', async () => {
    const id = await createStore({ CustomKeyStoreName: 'finance' });
    expect(id).toMatch(/^cks-[0-9a-f]{17}$/);
    const entry = await describeStore(id);
    expect(entry).toEqual({
      CustomKeyStoreId: id,
      CustomKeyStoreName: 'finance',
      CustomKeyStoreType: 'AWS_CLOUDHSM',
      CloudHsmClusterId: cluster.label,
      ConnectionState: 'DISCONNECTED',
      CreationDate: kms.clock.now().getTime() / 1000,
    });
    expect(JSON.stringify(await call(kms, describeCustomKeyStores, {}))).not.toContain(cluster.userPin);
    expect(JSON.stringify(kms.audit)).not.toContain(cluster.userPin);
    const byName = await call(kms, describeCustomKeyStores, { CustomKeyStoreName: 'finance' });
    expect((byName.CustomKeyStores as unknown[]).length).toBe(1);
  });

  it.each([
    ['no name', { CustomKeyStoreName: undefined }, 'ValidationException', 'customKeyStoreName'],
    ['a 257-character name', { CustomKeyStoreName: 'n'.repeat(257) }, 'ValidationException', 'length less than or equal to 256'],
    ['no password', { KeyStorePassword: undefined }, 'ValidationException', 'keyStorePassword'],
    ['a 6-character password', { KeyStorePassword: 'abcdef' }, 'ValidationException', 'between 7 and 32'],
    ['a numeric password', { KeyStorePassword: 1234567 }, 'SerializationException', 'KeyStorePassword'],
    ['no cluster', { CloudHsmClusterId: undefined }, 'ValidationException', 'cloudHsmClusterId'],
    ['an unknown cluster', { CloudHsmClusterId: 'no-such-cluster' }, 'CloudHsmClusterNotFoundException', 'no-such-cluster'],
    ['a trust anchor that is no certificate', { TrustAnchorCertificate: 'hello' }, 'IncorrectTrustAnchorException', 'X.509'],
    ['XKS members', { XksProxyUriPath: '/kms/xks/v1' }, 'ValidationException', 'XksProxyUriPath is not valid'],
    ['an unknown type', { CustomKeyStoreType: 'LOCAL' }, 'ValidationException', 'customKeyStoreType'],
  ] as const)('refuses %s and writes nothing', async (_name, input, type, message) => {
    await expectKmsError(createStore(input as JsonObject), type, message);
    expect(await kms.store.keyStores.countCustomKeyStores()).toBe(0);
  });

  it('keeps names and clusters unique', async () => {
    await createStore({ CustomKeyStoreName: 'one' });
    await expectKmsError(createStore({ CustomKeyStoreName: 'one', CloudHsmClusterId: otherCluster.label, KeyStorePassword: otherCluster.userPin }), 'CustomKeyStoreNameInUseException', 'one');
    await expectKmsError(createStore({ CustomKeyStoreName: 'two' }), 'CloudHsmClusterInUseException', cluster.label);
    expect(await kms.store.keyStores.countCustomKeyStores()).toBe(1);
  });

  it('allows ten stores, as AWS, and pages through them with Limit and Marker', async () => {
    // Eleven clusters are not what this is about: a cluster list that has every id.
    const anyCluster: ClusterTokens = { list: async () => [], has: async () => true, connect: () => Promise.reject(new Error('not here')) };
    kms.deps.keyStores = new KeyStoreConnections({ store: kms.store, backend: kms.backend, clusters: anyCluster, clock: kms.clock, logger: new RecordingLogger(), checkIntervalMs: 0 });
    for (let i = 0; i < 10; i++) {
      kms.clock.advance(1000);
      await createStore({ CustomKeyStoreName: `s${i}`, CloudHsmClusterId: `c${i}` });
    }
    await expectKmsError(createStore({ CustomKeyStoreName: 's10', CloudHsmClusterId: 'c10' }), 'LimitExceededException', '10 custom key stores');
    const first = await call(kms, describeCustomKeyStores, { Limit: 4 });
    expect((first.CustomKeyStores as { CustomKeyStoreName: string }[]).map((s) => s.CustomKeyStoreName)).toEqual(['s0', 's1', 's2', 's3']);
    expect(first.Truncated).toBe(true);
    const rest = await call(kms, describeCustomKeyStores, { Limit: 100, Marker: first.NextMarker });
    expect((rest.CustomKeyStores as unknown[]).length).toBe(6);
    expect(rest.Truncated).toBe(false);
    expect(rest.NextMarker).toBeUndefined();
    await expectKmsError(call(kms, describeCustomKeyStores, { Marker: 'garbage' }), 'InvalidMarkerException');
    await expectKmsError(call(kms, describeCustomKeyStores, { Limit: 0 }), 'ValidationException', 'greater than or equal to 1');
    await expectKmsError(call(kms, describeCustomKeyStores, { CustomKeyStoreId: 'cks-0', CustomKeyStoreName: 's0' }), 'ValidationException', 'not both');
    await expectKmsError(call(kms, describeCustomKeyStores, { CustomKeyStoreId: 'cks-00000000000000000' }), 'CustomKeyStoreNotFoundException');
    await expectKmsError(call(kms, describeCustomKeyStores, { CustomKeyStoreName: 'nope' }), 'CustomKeyStoreNotFoundException');
  });
});

describe('connecting and disconnecting', () => {
  it('fails to connect with a wrong password (FAILED, INVALID_CREDENTIALS), and recovers after disconnect and update', async () => {
    const id = await createStore({ KeyStorePassword: 'not-the-pin' });
    const failed = await settle(connectCustomKeyStore, id);
    expect(failed).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INVALID_CREDENTIALS' });
    await expectKmsError(call(kms, connectCustomKeyStore, { CustomKeyStoreId: id }), 'CustomKeyStoreInvalidStateException', 'FAILED');
    await expectKmsError(call(kms, updateCustomKeyStore, { CustomKeyStoreId: id, KeyStorePassword: cluster.userPin }), 'CustomKeyStoreInvalidStateException', 'disconnect it');
    expect(await settle(disconnectCustomKeyStore, id)).toMatchObject({ ConnectionState: 'DISCONNECTED' });
    expect((await describeStore(id)).ConnectionErrorCode).toBeUndefined();
    await expectKmsError(call(kms, disconnectCustomKeyStore, { CustomKeyStoreId: id }), 'CustomKeyStoreInvalidStateException', 'DISCONNECTED');
    await call(kms, updateCustomKeyStore, { CustomKeyStoreId: id, KeyStorePassword: cluster.userPin });
    expect(await settle(connectCustomKeyStore, id)).toMatchObject({ ConnectionState: 'CONNECTED' });
    // Connecting a connected store is a success that changes nothing.
    expect(await settle(connectCustomKeyStore, id)).toMatchObject({ ConnectionState: 'CONNECTED' });
    await settle(disconnectCustomKeyStore, id);
  });

  it('answers at once and connects in the background', async () => {
    const id = await createStore();
    await call(kms, connectCustomKeyStore, { CustomKeyStoreId: id });
    expect(['CONNECTING', 'CONNECTED']).toContain((await describeStore(id)).ConnectionState);
    await kms.deps.keyStores!.idle();
    expect((await describeStore(id)).ConnectionState).toBe('CONNECTED');
    await settle(disconnectCustomKeyStore, id);
  });

  it('refuses unknown stores with CustomKeyStoreNotFoundException', async () => {
    for (const operation of [connectCustomKeyStore, disconnectCustomKeyStore, deleteCustomKeyStore, updateCustomKeyStore])
      await expectKmsError(call(kms, operation, { CustomKeyStoreId: 'cks-11111111111111111', NewCustomKeyStoreName: 'x' }), 'CustomKeyStoreNotFoundException');
    await expectKmsError(call(kms, connectCustomKeyStore, {}), 'ValidationException', 'customKeyStoreId');
  });
});

describe('keys in a token-backed store', () => {
  // The token object is the key's only material: a commit reported failed that landed after all
  // (a connection lost at COMMIT) must not lose it. Faults injected at the store's port.
  it('keeps the token object of a key whose commit landed although CreateKey was told it failed', async () => {
    const storeId = await connectedStore();
    const faults = faultyStore(kms.store);
    kms.deps.store = faults.store;
    try {
      faults.nextTransaction = 'lost-commit';
      await expect(call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId })).rejects.toThrow('connection terminated unexpectedly');
      const [landed] = (await kms.store.listKeys(10)).items;
      expect(landed).toMatchObject({ origin: 'AWS_CLOUDHSM', keyState: 'Enabled' });
      const enc = await call(kms, encrypt, { KeyId: landed!.keyId, Plaintext: b64('kept') });
      expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: enc.CiphertextBlob })).Plaintext).toString()).toBe('kept');

      // One that did not land, the store saying so: nothing is left of it to use.
      faults.nextTransaction = 'fail';
      await expect(call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId })).rejects.toThrow('connection terminated unexpectedly');
      expect((await kms.store.listKeys(10)).items).toHaveLength(1);
    } finally {
      kms.deps.store = kms.store;
    }
  });

  it('creates keys as token objects and encrypts, decrypts, generates data keys and re-encrypts with them', async () => {
    const storeId = await connectedStore();
    const out = await call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId });
    const metadata = out.KeyMetadata as Record<string, unknown>;
    expect(metadata).toMatchObject({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, CloudHsmClusterId: cluster.label, KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT' });
    const keyId = metadata.KeyId as string;
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ CustomKeyStoreId: storeId, CloudHsmClusterId: cluster.label });

    const context = { tenant: 'a' };
    const enc = await call(kms, encrypt, { KeyId: keyId, Plaintext: b64('in the cluster'), EncryptionContext: context });
    const dec = await call(kms, decrypt, { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context });
    expect(bytesOf(dec.Plaintext).toString()).toBe('in the cluster');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'b' } }), 'InvalidCiphertextException');

    const dk = await call(kms, generateDataKey, { KeyId: keyId, KeySpec: 'AES_256' });
    expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: dk.CiphertextBlob })).Plaintext).equals(bytesOf(dk.Plaintext))).toBe(true);

    const defaultKey = ((await call(kms, createKey, {})).KeyMetadata as { KeyId: string }).KeyId;
    const moved = await call(kms, reEncrypt, { CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: context, DestinationKeyId: defaultKey });
    const back = await call(kms, reEncrypt, { CiphertextBlob: moved.CiphertextBlob, DestinationKeyId: keyId });
    expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: back.CiphertextBlob })).Plaintext).toString()).toBe('in the cluster');

    expect(bytesOf((await call(kms, generateRandom, { NumberOfBytes: 16, CustomKeyStoreId: storeId })).Plaintext)).toHaveLength(16);
    await expectKmsError(call(kms, enableKeyRotation, { KeyId: keyId }), 'UnsupportedOperationException', 'AWS_KMS origin');
    await settle(disconnectCustomKeyStore, storeId);
  });

  it('refuses keys of other kinds, other origins and stores that are not connected, writing nothing', async () => {
    const storeId = await createStore();
    await expectNoWrite(kms, () => call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId }), 'CustomKeyStoreInvalidStateException', 'CONNECTED');
    await settle(connectCustomKeyStore, storeId);
    await expectNoWrite(kms, () => call(kms, createKey, { Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'k' }), 'ValidationException', 'of type AWS_CLOUDHSM');
    await expectNoWrite(kms, () => call(kms, createKey, { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }), 'UnsupportedOperationException');
    await settle(disconnectCustomKeyStore, storeId);
  });

  it('makes keys unusable while the store is disconnected, and usable again once it reconnects', async () => {
    const storeId = await connectedStore();
    const keyId = await keyIn(storeId);
    const enc = await call(kms, encrypt, { KeyId: keyId, Plaintext: b64('x') });
    await call(kms, updateCustomKeyStore, { CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'renamed while connected' });

    expect((await settle(disconnectCustomKeyStore, storeId)).ConnectionState).toBe('DISCONNECTED');
    await expectKmsError(call(kms, encrypt, { KeyId: keyId, Plaintext: b64('x') }), 'KMSInvalidStateException', 'is not connected (ConnectionState DISCONNECTED)');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: enc.CiphertextBlob }), 'KMSInvalidStateException', storeId);
    await expectKmsError(call(kms, generateRandom, { NumberOfBytes: 1, CustomKeyStoreId: storeId }), 'CustomKeyStoreInvalidStateException');
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ KeyState: 'Unavailable', Enabled: false });

    expect((await settle(connectCustomKeyStore, storeId)).ConnectionState).toBe('CONNECTED');
    expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: enc.CiphertextBlob })).Plaintext).toString()).toBe('x');
    expect((await call(kms, describeKey, { KeyId: keyId })).KeyMetadata).toMatchObject({ KeyState: 'Enabled', Enabled: true });
    await settle(disconnectCustomKeyStore, storeId);
  });

  it('refuses to delete a store that holds keys; destroys the token object when the key deletion is due; then deletes the store', async () => {
    const storeId = await connectedStore();
    const keyId = await keyIn(storeId);
    const versions = await kms.store.listKeyVersions(keyId);
    await expectKmsError(call(kms, deleteCustomKeyStore, { CustomKeyStoreId: storeId }), 'CustomKeyStoreInvalidStateException', 'disconnect it');
    await settle(disconnectCustomKeyStore, storeId);
    await expectKmsError(call(kms, deleteCustomKeyStore, { CustomKeyStoreId: storeId }), 'CustomKeyStoreHasCMKsException', '1 KMS key');

    await settle(connectCustomKeyStore, storeId);
    await call(kms, scheduleKeyDeletion, { KeyId: keyId, PendingWindowInDays: 7 });
    kms.clock.advance(8 * DAY_MS);
    const logger = new RecordingLogger();
    const scheduler = startScheduler(kms.deps, logger, { intervalMs: 3_600_000 });
    await scheduler.runOnce();
    await scheduler.stop();
    expect(await kms.store.getKey(keyId)).toBeUndefined();
    // The object is gone from the token: a connection cannot use its reference any more.
    const connection = await clusters.connect(cluster.label, async () => cluster.userPin).catch((e: unknown) => e);
    expect(connection).toMatchObject({ code: 'USER_LOGGED_IN' }); // the store's own connection still holds the login
    const reached = await kms.deps.keyStores!.connectionFor((await kms.store.keyStores.getCustomKeyStore(storeId))!, 'test');
    expect(await reached.destroyKey({ label: keyId, reference: versions[0]!.wrappedMaterial })).toBe(false);

    await settle(disconnectCustomKeyStore, storeId);
    await call(kms, deleteCustomKeyStore, { CustomKeyStoreId: storeId });
    await expectKmsError(call(kms, describeCustomKeyStores, { CustomKeyStoreId: storeId }), 'CustomKeyStoreNotFoundException');
  });

  it('marks the store FAILED with CLUSTER_NOT_FOUND when its cluster disappears from the configuration', async () => {
    const storeId = await connectedStore();
    const keyId = await keyIn(storeId);
    await settle(disconnectCustomKeyStore, storeId);
    // The same store on a server that no longer has the cluster.
    const elsewhere = new KeyStoreConnections({
      store: kms.store,
      backend: kms.backend,
      clusters: new Pkcs11ClusterTokens({ configured: [], defaultToken: tokenConfig() }),
      clock: kms.clock,
      logger: new RecordingLogger(),
      checkIntervalMs: 0,
    });
    kms.deps.keyStores = elsewhere;
    expect(await settle(connectCustomKeyStore, storeId)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'CLUSTER_NOT_FOUND' });
    await expectKmsError(call(kms, encrypt, { KeyId: keyId, Plaintext: b64('x') }), 'KMSInvalidStateException', 'FAILED (CLUSTER_NOT_FOUND)');
  });
});
