/**
 * External key stores (EXTERNAL_KEY_STORE) through @aws-sdk/client-kms: hsmkms as the KMS side of
 * XKS, using hsmkms's own XKS endpoint as the proxy — first its own (same process), then another
 * hsmkms that is stopped and started again. Double encryption round trips, AWS's exceptions for
 * every way the proxy can be wrong, and nothing half-written.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ListKeysCommand,
  ReEncryptCommand,
  UpdateCustomKeyStoreCommand,
  type CreateCustomKeyStoreCommandInput,
} from '@aws-sdk/client-kms';
import { createApp, type App } from '../../src/app.js';
import { TokenXksKeys } from '../../src/backend/pkcs11/xks-keys.js';
import { readPin } from '../../src/config/hsm.js';
import { createXksCredential, xksProxyUriPath, type NewXksCredential } from '../../src/xks/credentials.js';
import { tokenConfig } from '../backend/pkcs11/helpers.js';
import { TEST_SETTINGS } from '../support/kms-deps.js';
import { settledKeyStore } from '../support/key-stores.js';
import { startServer, type RunningServer } from '../support/server.js';

const run = randomBytes(4).toString('hex');
const XKS_KEY = `ext-${run}`;
const ENCRYPT_ONLY = `ext-${run}-enc`;
let server: RunningServer;
let kms: KMSClient;
let keys: TokenXksKeys;
let credential: NewXksCredential;

beforeAll(async () => {
  // Generous: this is about behaviour; the 250 ms default is exercised in test/http/xks-client.test.ts.
  server = await startServer({ xksProxyTimeoutMs: 10_000 });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  keys = await TokenXksKeys.open({ ...tokenConfig(), pin: async () => readPin(tokenConfig().pin) });
  await keys.create(XKS_KEY, { encrypt: true, decrypt: true });
  await keys.create(ENCRYPT_ONLY, { encrypt: true, decrypt: false });
  credential = await createXksCredential(server.app.store, server.app.backend, `ext/${run}`, new Date());
});
afterAll(async () => {
  kms?.destroy();
  await keys?.close();
  await server?.close();
});

function storeInput(overrides: Partial<CreateCustomKeyStoreCommandInput> = {}, proxy: { endpoint: string; credential: NewXksCredential } = { endpoint: server.endpoint, credential }): CreateCustomKeyStoreCommandInput {
  return {
    CustomKeyStoreName: `external-${randomBytes(3).toString('hex')}`,
    CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
    XksProxyUriEndpoint: proxy.endpoint,
    XksProxyUriPath: xksProxyUriPath(proxy.credential.uriPrefix),
    XksProxyAuthenticationCredential: { AccessKeyId: proxy.credential.accessKeyId, RawSecretAccessKey: proxy.credential.secretAccessKey },
    XksProxyConnectivity: 'PUBLIC_ENDPOINT',
    ...overrides,
  };
}

const settled = (id: string) => settledKeyStore(kms, id);

async function connected(input: CreateCustomKeyStoreCommandInput): Promise<string> {
  const { CustomKeyStoreId: id } = await kms.send(new CreateCustomKeyStoreCommand(input));
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  expect(await settled(id!)).toMatchObject({ ConnectionState: 'CONNECTED' });
  return id!;
}

const keyCount = async () => (await kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys!.length;

describe('an external key store on hsmkms\'s own XKS proxy', () => {
  let storeId: string;
  let keyId: string;

  it('is created after the proxy answers GetHealthStatus, and described without its secret', async () => {
    const { CustomKeyStoreId } = await kms.send(new CreateCustomKeyStoreCommand(storeInput({ CustomKeyStoreName: `ext-${run}` })));
    storeId = CustomKeyStoreId!;
    const described = await settled(storeId);
    expect(described).toMatchObject({
      CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
      ConnectionState: 'DISCONNECTED',
      XksProxyConfiguration: { Connectivity: 'PUBLIC_ENDPOINT', AccessKeyId: credential.accessKeyId, UriEndpoint: server.endpoint, UriPath: `/ext/${run}/kms/xks/v1` },
    });
    expect(JSON.stringify(described)).not.toContain(credential.secretAccessKey);
    expect(server.logs()).not.toContain(credential.secretAccessKey);
    expect(server.logs()).toContain('"kmsOperation":"CreateCustomKeyStore"');
  });

  it.each([
    ['a wrong credential', { XksProxyUriPath: '/other/kms/xks/v1', XksProxyAuthenticationCredential: { AccessKeyId: 'A'.repeat(26), RawSecretAccessKey: 'x'.repeat(44) } }, 'XksProxyIncorrectAuthenticationCredentialException'],
    ['a wrong path', { XksProxyUriPath: '/no/such/prefix/kms/xks/v1' }, 'XksProxyInvalidConfigurationException'],
    ['plain http to another host', { XksProxyUriEndpoint: 'http://xks.example.com' }, 'ValidationException'],
    ['an endpoint with a path', { XksProxyUriEndpoint: 'https://xks.example.com/x' }, 'ValidationException'],
    ['a path that is not /kms/xks/v1', { XksProxyUriPath: '/tenant/kms/xks/v2' }, 'ValidationException'],
    ['a short secret', { XksProxyAuthenticationCredential: { AccessKeyId: 'A'.repeat(26), RawSecretAccessKey: 'short' } }, 'ValidationException'],
    ['VPC endpoint connectivity', { XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE' as const }, 'UnsupportedOperationException'],
    ['no credential', { XksProxyAuthenticationCredential: undefined }, 'ValidationException'],
    ['CloudHSM members', { KeyStorePassword: 'password1' }, 'ValidationException'],
  ] as const)('refuses %s with %s and creates nothing', async (_name, overrides, exception) => {
    const before = (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.length;
    const error = await kms.send(new CreateCustomKeyStoreCommand(storeInput(overrides as Partial<CreateCustomKeyStoreCommandInput>))).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: exception, $metadata: { httpStatusCode: 400 } });
    expect(String((error as Error).message)).not.toContain(credential.secretAccessKey);
    expect((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.length).toBe(before);
  });

  it('refuses the same proxy address twice', async () => {
    await expect(kms.send(new CreateCustomKeyStoreCommand(storeInput()))).rejects.toMatchObject({ name: 'XksProxyUriInUseException' });
  });

  it('connects in the background, and checks the external key when a KMS key is created', async () => {
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    expect((await settled(storeId)).ConnectionState).toBe('CONNECTED');
    const before = await keyCount();
    await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'no-such-external-key' }))).rejects.toMatchObject({
      name: 'XksKeyNotFoundException',
    });
    await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: ENCRYPT_ONLY }))).rejects.toMatchObject({
      name: 'XksKeyInvalidConfigurationException',
    });
    await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId }))).rejects.toMatchObject({ name: 'ValidationException' });
    expect(await keyCount()).toBe(before);

    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: XKS_KEY }));
    expect(KeyMetadata).toMatchObject({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyConfiguration: { Id: XKS_KEY }, KeyState: 'Enabled' });
    keyId = KeyMetadata!.KeyId!;
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.XksKeyConfiguration).toEqual({ Id: XKS_KEY });
    await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: XKS_KEY }))).rejects.toMatchObject({
      name: 'XksKeyAlreadyInUseException',
    });
  });

  it('encrypts twice — in hsmkms\'s HSM, then through the proxy — and decrypts back, with the encryption context bound', async () => {
    const context = { department: 'payments' };
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kept outside AWS'), EncryptionContext: context }));
    const plain = await kms.send(new EncryptCommand({ KeyId: (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId, Plaintext: Buffer.from('kept outside AWS'), EncryptionContext: context }));
    // The outer layer: the proxy's IV, tag and envelope around the inner ciphertext.
    expect(enc.CiphertextBlob!.length - plain.CiphertextBlob!.length).toBe(1 + 1 + 12 + 1 + 16);
    const logs = server.logs();
    expect(logs).toMatch(new RegExp(`"xksOperation":"Encrypt","uriPrefix":"ext/${run}","keyId":"${XKS_KEY}"[^}]*"kmsOperation":"Encrypt"[^}]*"kmsKeyArn":"${enc.KeyId}"`));
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('kept outside AWS');
    expect(dec.KeyId).toBe(enc.KeyId);
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { department: 'sales' } }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
      message: expect.stringContaining('ciphertext or encryption context'),
    });
    const tampered = Buffer.from(enc.CiphertextBlob!);
    tampered[tampered.length - 1]! ^= 1;
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context }))).rejects.toMatchObject({ name: 'KMSInvalidStateException' });

    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))).Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);
    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const away = await kms.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: context, DestinationKeyId: other }));
    const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: away.CiphertextBlob, DestinationKeyId: keyId }));
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob }))).Plaintext!).toString()).toBe('kept outside AWS');
  });

  it('takes a new proxy credential while connected (rotation), and stops working when disconnected', async () => {
    const second = await createXksCredential(server.app.store, server.app.backend, credential.uriPrefix, new Date());
    await kms.send(
      new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyAuthenticationCredential: { AccessKeyId: second.accessKeyId, RawSecretAccessKey: second.secretAccessKey } }),
    );
    expect(await server.app.store.keyStores.deleteXksCredential(credential.accessKeyId)).toBe(true);
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('after rotation') }));
    expect((await settled(storeId)).XksProxyConfiguration?.AccessKeyId).toBe(second.accessKeyId);
    await expect(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriEndpoint: server.endpoint }))).rejects.toMatchObject({
      name: 'CustomKeyStoreInvalidStateException',
    });

    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    expect((await settled(storeId)).ConnectionState).toBe('DISCONNECTED');
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
      message: expect.stringContaining('not connected'),
    });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Unavailable');
    await expect(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }))).rejects.toMatchObject({ name: 'CustomKeyStoreHasCMKsException' });
  });

  it('answers CreateCustomKeyStore for a proxy that speaks garbage with XksProxyInvalidResponseException', async () => {
    const garbage = http.createServer((request, response) => {
      request.resume();
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html>not a proxy</html>');
    });
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(garbage.address() as AddressInfo).port}`;
    await expect(kms.send(new CreateCustomKeyStoreCommand(storeInput({}, { endpoint, credential })))).rejects.toMatchObject({
      name: 'XksProxyInvalidResponseException',
    });
    await new Promise<void>((resolve) => garbage.close(() => resolve()));
  });
});

describe('an external key store on another hsmkms, stopped and started again', () => {
  it('answers KMSInvalidStateException while the proxy is down, writes nothing, and works again once it is back', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-proxy-'));
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const startProxy = async (port: number): Promise<{ app: App; port: number }> => {
      const app = await createApp({ dataDir, hsm: tokenConfig(), settings: TEST_SETTINGS, logLevel: 'warn', logDestination: quiet, schedulerIntervalMs: 0 });
      await app.server.listen({ host: '127.0.0.1', port });
      return { app, port: (app.server.server.address() as AddressInfo).port };
    };
    let proxy = await startProxy(0);
    try {
      const proxyCredential = await createXksCredential(proxy.app.store, proxy.app.backend, `remote/${run}`, new Date());
      const endpoint = `http://127.0.0.1:${proxy.port}`;
      const id = await connected(storeInput({}, { endpoint, credential: proxyCredential }));
      const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: id, XksKeyId: XKS_KEY }))).KeyMetadata!.KeyId!;
      const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('remote') }));

      await proxy.app.close();
      const before = await keyCount();
      await expect(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({
        name: 'KMSInvalidStateException',
        message: expect.stringContaining('cannot communicate with the external key store proxy'),
      });
      await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).rejects.toMatchObject({ name: 'KMSInvalidStateException' });
      await expect(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: id, XksKeyId: `${XKS_KEY}-enc` }))).rejects.toMatchObject({
        name: 'CustomKeyStoreInvalidStateException',
      });
      expect(await keyCount()).toBe(before);
      // The store stays CONNECTED: a proxy that is down fails requests, not the store...
      expect((await settled(id)).ConnectionState).toBe('CONNECTED');
      // ...but connecting it anew needs the proxy.
      await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      expect((await settled(id)).ConnectionState).toBe('DISCONNECTED');
      await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      expect(await settled(id)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'XKS_PROXY_NOT_REACHABLE' });

      proxy = await startProxy(proxy.port);
      await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      await settled(id);
      await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      expect((await settled(id)).ConnectionState).toBe('CONNECTED');
      expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext!).toString()).toBe('remote');
    } finally {
      await proxy.app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
