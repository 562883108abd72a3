/**
 * A token-backed key store on the embedded SoftHSM2 when its token changes behind hsmkms's back:
 * the PIN changed with pkcs11-tool, then the token's files removed. Each time the store becomes
 * FAILED with the ConnectionErrorCode that says why, and a reconnect (after fixing the cause)
 * brings every old ciphertext back.
 *
 * SoftHSM2 reads its token files once per process, so a changed PIN shows when hsmkms logs in
 * anew (here: a restart), and a restored token only after a restart; hsmkms itself needs none.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DisconnectCustomKeyStoreCommand,
  EncryptCommand,
  KMSClient,
  UpdateCustomKeyStoreCommand,
  type CustomKeyStoresListEntry,
} from '@aws-sdk/client-kms';
import { settledKeyStore } from '../support/key-stores.js';
import { hsmkms, serve, type Served } from '../support/cli.js';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
let dataDir: string;
let served: Served | undefined;
let kms: KMSClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-cks-'));
  await hsmkms(['token', 'init', '--label', 'partition2', '--data-dir', dataDir]);
}, 120_000);
afterAll(async () => {
  kms?.destroy();
  await served?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function restart(): Promise<void> {
  kms?.destroy();
  await served?.stop();
  served = await serve(['--data-dir', dataDir, '--port', '0']);
  const root = JSON.parse(readFileSync(join(dataDir, 'root-credentials.json'), 'utf8'));
  kms = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials: { accessKeyId: root.accessKeyId, secretAccessKey: root.secretAccessKey }, maxAttempts: 1 });
}

const settled = (id: string) => settledKeyStore(kms, id);

async function reconnect(id: string): Promise<CustomKeyStoresListEntry> {
  await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  expect((await settled(id)).ConnectionState).toBe('DISCONNECTED');
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  return settled(id);
}

const softhsm = () => ({ ...process.env, SOFTHSM2_CONF: join(dataDir, 'softhsm2.conf') });

describe('a token-backed key store whose token changes behind its back', () => {
  it('fails with INVALID_CREDENTIALS after a PIN change and CLUSTER_NOT_FOUND after the token is removed; reconnecting recovers', async () => {
    await restart();
    const oldPin = readFileSync(join(dataDir, 'partition2.pin'), 'utf8').trim();
    const { CustomKeyStoreId: id } = await kms.send(
      new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'embedded partition', CloudHsmClusterId: 'partition2', KeyStorePassword: oldPin }),
    );
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('CONNECTED');
    const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: id }))).KeyMetadata!.KeyId!;
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('survives') }));
    const decrypts = async () => Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString();

    // The token owner changes the user PIN (test token: its PIN on argv is acceptable here only).
    const newPin = 'n3w-pin-4-partition2';
    execFileSync('pkcs11-tool', ['--module', MODULE, '--token-label', 'partition2', '--login', '--pin', oldPin, '--change-pin', '--new-pin', newPin], { env: softhsm(), stdio: 'ignore' });
    await restart();
    await expect(decrypts()).rejects.toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('INVALID_CREDENTIALS') });
    expect(await settled(id!)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'INVALID_CREDENTIALS' });
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await settled(id!);
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: id, KeyStorePassword: newPin }));
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    expect((await settled(id!)).ConnectionState).toBe('CONNECTED');
    expect(await decrypts()).toBe('survives');

    // The token's files disappear while the store is connected.
    cpSync(join(dataDir, 'tokens'), join(dataDir, 'tokens.backup'), { recursive: true });
    execFileSync('softhsm2-util', ['--delete-token', '--token', 'partition2'], { env: softhsm(), stdio: 'ignore' });
    await expect(decrypts()).rejects.toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('CLUSTER_NOT_FOUND') });
    expect(await settled(id!)).toMatchObject({ ConnectionState: 'FAILED', ConnectionErrorCode: 'CLUSTER_NOT_FOUND' });

    // The owner restores the token from its backup.
    await served!.stop();
    rmSync(join(dataDir, 'tokens'), { recursive: true, force: true });
    cpSync(join(dataDir, 'tokens.backup'), join(dataDir, 'tokens'), { recursive: true });
    await restart();
    expect((await reconnect(id!)).ConnectionState).toBe('CONNECTED');
    expect(await decrypts()).toBe('survives');
    expect(served!.stderr()).not.toContain(newPin);
  });
});
