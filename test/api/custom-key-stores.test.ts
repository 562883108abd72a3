/**
 * A token-backed custom key store through the real AWS SDK, on a second SoftHSM2 token, and
 * what pkcs11-tool (the HSM owner's own tool) sees in that token.
 */
import { execFileSync } from 'node:child_process';
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
  UpdateCustomKeyStoreCommand,
} from '@aws-sdk/client-kms';
import { parseClusterSpec } from '../../src/backend/pkcs11/cluster-tokens.js';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { createTestCluster, type TestCluster } from '../support/clusters.js';
import { settledKeyStore } from '../support/key-stores.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let kms: KMSClient;
let cluster: TestCluster;
/** A second token, for the stores the role tests make. */
let officersCluster: TestCluster;

const clusterSpec = (c: TestCluster) => parseClusterSpec(`${c.label}=${process.env.HSMKMS_TEST_MODULE}:${c.label}`);

beforeAll(async () => {
  cluster = await createTestCluster('api');
  officersCluster = await createTestCluster('roles');
  server = await startServer({ clusters: { configured: [clusterSpec(cluster), clusterSpec(officersCluster)] } });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

const settled = (id: string) => settledKeyStore(kms, id);

/** The token's secret key objects as pkcs11-tool lists them. */
function tokenObjects(): string {
  // A throwaway test token: its PIN on pkcs11-tool's command line is acceptable here only.
  return execFileSync(
    'pkcs11-tool',
    ['--module', process.env.HSMKMS_TEST_MODULE!, '--token-label', cluster.label, '--login', '--pin', cluster.userPin, '--list-objects', '--type', 'secrkey'],
    { encoding: 'utf8', env: process.env },
  );
}

describe('a token-backed custom key store through @aws-sdk/client-kms', () => {
  it('lives through create, a failed connect, keys in the token, disconnect, reconnect and delete', async () => {
    const { CustomKeyStoreId: id } = await kms.send(
      new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'second partition', CloudHsmClusterId: cluster.label, KeyStorePassword: 'wrong-password' }),
    );
    expect(id).toMatch(/^cks-/);
    expect((await settled(id!)).ConnectionState).toBe('DISCONNECTED');

    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect(await settled(id!)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INVALID_CREDENTIALS' });
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('DISCONNECTED');
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: id, KeyStorePassword: cluster.userPin }));
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('CONNECTED');

    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: id, Description: 'in the second partition' }));
    expect(KeyMetadata).toMatchObject({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: id, CloudHsmClusterId: cluster.label, KeySpec: 'SYMMETRIC_DEFAULT' });
    const keyId = KeyMetadata!.KeyId!;

    const objects = tokenObjects();
    const entry = objects.split(/\n(?=Secret Key Object)/).find((block) => block.includes(`label:      ${keyId}`)) ?? '';
    expect(entry, objects).toContain('AES length 32');
    expect(entry).toMatch(/Usage:\s+encrypt, decrypt/);
    expect(entry).toMatch(/Access:.*\bsensitive\b/);
    expect(entry).toMatch(/Access:.*never extractable/);

    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kept in my HSM'), EncryptionContext: { app: 'x' } }));
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: 'x' } }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('kept in my HSM');
    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))).Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);

    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('DISCONNECTED');
    await expect(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
      message: expect.stringContaining('not connected'),
    });
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: 'x' } }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
    expect((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState).toBe('Unavailable');
    await expect(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id }))).rejects.toMatchObject({ name: 'CustomKeyStoreHasCMKsException' });

    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('CONNECTED');
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: 'x' } }));
    expect(Buffer.from(again.Plaintext!).toString()).toBe('kept in my HSM');

    expect(server.logs()).not.toContain(cluster.userPin);
    expect(server.logs()).not.toContain('wrong-password');
  });

  it('is managed by CryptoOfficers and the root; a CryptoUser is refused, even with an identity policy allowing kms:*', async () => {
    const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
    const principal = async (UserName: string, Roles: string[]) => {
      const made = (await admin.call('CreatePrincipal', { UserName, Roles })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
      return { arn: made.Arn, kms: new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: { accessKeyId: made.AccessKeyId, secretAccessKey: made.SecretAccessKey }, maxAttempts: 1 }) };
    };
    const officer = await principal('store-officer', ['CryptoOfficer']);
    const user = await principal('store-user', ['CryptoUser']);
    await admin.call('PutPrincipalPolicy', {
      UserName: 'store-user',
      PolicyName: 'everything',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] }),
    });
    try {
      const { CustomKeyStoreId: id } = await officer.kms.send(
        new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'officers', CloudHsmClusterId: officersCluster.label, KeyStorePassword: officersCluster.userPin }),
      );
      const listed = await officer.kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }));
      expect(listed.CustomKeyStores?.[0]).toMatchObject({ CustomKeyStoreName: 'officers', CloudHsmClusterId: officersCluster.label });

      // (Each call is in a state it could act on: the store's state is checked before the caller.)
      const refused = (call: () => Promise<unknown>) =>
        expect(call()).rejects.toMatchObject({
          name: 'AccessDeniedException',
          message: expect.stringMatching(new RegExp(`^User: ${user.arn} is not authorized to perform: kms:\\w+CustomKeyStore on resource: \\*`)),
        });
      await refused(() => user.kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'users', CloudHsmClusterId: officersCluster.label, KeyStorePassword: 'password1' })));
      await refused(() => user.kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: id, NewCustomKeyStoreName: 'taken over' })));
      await refused(() => user.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })));
      await refused(() => user.kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id })));
      expect((await settledKeyStore(officer.kms, id!)).ConnectionState).toBe('DISCONNECTED');

      await officer.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      expect((await settledKeyStore(officer.kms, id!)).ConnectionState).toBe('CONNECTED');
      await refused(() => user.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id })));
      // Nothing changed: the officer's store is there, named and connected as it was.
      expect((await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores?.[0]).toMatchObject({
        CustomKeyStoreName: 'officers',
        ConnectionState: 'CONNECTED',
      });
      await officer.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      expect((await settledKeyStore(officer.kms, id!)).ConnectionState).toBe('DISCONNECTED');
      await officer.kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id }));
      await expect(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).rejects.toMatchObject({ name: 'CustomKeyStoreNotFoundException' });
    } finally {
      officer.kms.destroy();
      user.kms.destroy();
    }
  });

  it('answers bad input with the exceptions the SDK knows, and no 500', async () => {
    await expect(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000' }))).rejects.toMatchObject({ name: 'CustomKeyStoreNotFoundException' });
    await expect(
      kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'x', CloudHsmClusterId: 'not-configured', KeyStorePassword: 'password1' })),
    ).rejects.toMatchObject({ name: 'CloudHsmClusterNotFoundException', $metadata: { httpStatusCode: 400 } });
    await expect(
      kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-00000000000000000' })),
    ).rejects.toMatchObject({ name: 'CustomKeyStoreNotFoundException' });
  });
});
