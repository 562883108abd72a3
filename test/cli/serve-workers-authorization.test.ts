/**
 * `hsmkms serve --workers 2`: what authorizes a call, changed through one worker, holds on the very
 * next request to any worker, also while a long call is in progress on it: a grant revoked, a key
 * policy that now denies, a key scheduled for deletion. (The read cache of each worker is checked
 * for other workers' commits once per call; these are the changes it must not miss.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  EncryptCommand,
  GenerateDataKeyPairCommand,
  KMSClient,
  PutKeyPolicyCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { serve, type Served } from '../support/cli.js';

let dir: string;
let served: Served;
let credentials: { accessKeyId: string; secretAccessKey: string };
const all: KMSClient[] = [];
const client = (c: { accessKeyId: string; secretAccessKey: string }) => {
  const k = new KMSClient({ endpoint: served.endpoint, region: 'us-east-1', credentials: c, maxAttempts: 1 });
  all.push(k);
  return k;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hsmkms-workers-authz-'));
  served = await serve(['--data-dir', dir, '--port', '0', '--workers', '2', '--log-level', 'warn']);
  credentials = JSON.parse(readFileSync(join(dir, 'root-credentials.json'), 'utf8'));
}, 180_000);
afterAll(async () => {
  for (const c of all) c.destroy();
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function principal(name: string): Promise<{ arn: string; clients: KMSClient[] }> {
  const admin = new HsmKmsClient({ endpoint: served.endpoint, region: 'us-east-1', credentials });
  const out = (await admin.call('CreatePrincipal', { UserName: name, Roles: ['CryptoUser'] })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
  // Each client has its own connection, and new connections are spread over the workers.
  const clients = Array.from({ length: 6 }, () => client({ accessKeyId: out.AccessKeyId, secretAccessKey: out.SecretAccessKey }));
  return { arn: out.Arn, clients };
}

const encryptAll = (clients: KMSClient[], KeyId: string) =>
  Promise.all(clients.map((c) => c.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') })).then(() => 'ok', (e: Error) => e.name)));

/** Slow calls (RSA-4096 key pairs) in progress on every worker while `during` runs. */
async function whileBusy<T>(clients: KMSClient[], KeyId: string, during: () => Promise<T>): Promise<T> {
  const slow = clients.map((c) => c.send(new GenerateDataKeyPairCommand({ KeyId, KeyPairSpec: 'RSA_4096' })).catch(() => undefined));
  try {
    return await during();
  } finally {
    await Promise.all(slow);
  }
}

it('refuses a grantee on every worker on the next request once its grant is revoked, and once a key policy denies it', async () => {
  const owner = await principal('owner');
  const app = await principal('app');
  const ownerClient = owner.clients[0]!;
  const KeyId = (await ownerClient.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const account = owner.arn.split(':')[4]!;
  expect(await encryptAll(app.clients, KeyId)).toEqual(app.clients.map(() => 'AccessDeniedException'));

  const { GrantId } = await ownerClient.send(new CreateGrantCommand({ KeyId, GranteePrincipal: app.arn, Operations: ['Encrypt', 'GenerateDataKeyPair'] }));
  // Every worker has the key (and the grantee) in its read cache.
  expect(await encryptAll(app.clients, KeyId)).toEqual(app.clients.map(() => 'ok'));
  const revoked = await whileBusy(app.clients.slice(0, 2), KeyId, async () => {
    await ownerClient.send(new RevokeGrantCommand({ KeyId, GrantId }));
    return encryptAll(app.clients, KeyId);
  });
  expect(revoked).toEqual(app.clients.map(() => 'AccessDeniedException'));

  // Allowed by the key policy, then denied by it.
  const policy = (effect: 'Allow' | 'Deny') =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Account', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
        { Sid: 'App', Effect: effect, Principal: { AWS: app.arn }, Action: ['kms:Encrypt', 'kms:GenerateDataKeyPair'], Resource: '*' },
      ],
    });
  await ownerClient.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: policy('Allow') }));
  expect(await encryptAll(app.clients, KeyId)).toEqual(app.clients.map(() => 'ok'));
  const denied = await whileBusy(app.clients.slice(0, 2), KeyId, async () => {
    await ownerClient.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: policy('Deny') }));
    return encryptAll(app.clients, KeyId);
  });
  expect(denied).toEqual(app.clients.map(() => 'AccessDeniedException'));

  // A key scheduled for deletion through one worker, while the others are busy.
  await ownerClient.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: policy('Allow') }));
  expect(await encryptAll(app.clients, KeyId)).toEqual(app.clients.map(() => 'ok'));
  const pending = await whileBusy(app.clients.slice(0, 2), KeyId, async () => {
    await ownerClient.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }));
    return encryptAll(app.clients, KeyId);
  });
  expect(pending).toEqual(app.clients.map(() => 'KMSInvalidStateException'));
}, 120_000);
