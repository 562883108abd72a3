/**
 * UpdatePrimaryRegion across three real deployments on this machine (three `hsmkms serve`
 * processes, each with its own data directory, embedded SoftHSM2 token and `--region`): the new
 * primary's deployment keeps in step every replica of the key, those the former primary's
 * deployment made included. Each deployment that holds a primary here has the other two as
 * region peers, each through a RegionPeer bound to its own region.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  UpdatePrimaryRegionCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { hsmkms, serve, type Served } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-promotion-'));
const A = 'us-east-1';
const B = 'eu-west-1';
const C = 'ap-south-1';
const REGIONS = [A, B, C] as const;
const served = new Map<string, Served>();
const kms = new Map<string, KMSClient>();

const dataDir = (region: string) => join(dir, region);
const rootOf = (region: string) => JSON.parse(readFileSync(join(dataDir(region), 'root-credentials.json'), 'utf8')) as { accessKeyId: string; secretAccessKey: string };
const client = (region: string) => kms.get(region)!;

/** Registers `to` as a region peer of `from`: a RegionPeer bound to `from`, made on `to`'s deployment. */
async function registerPeer(from: string, to: string): Promise<void> {
  const admin = new HsmKmsClient({ endpoint: served.get(to)!.endpoint, region: to, credentials: rootOf(to) });
  const peer = await admin.call('CreatePrincipal', { UserName: `replicator-${from}`, Roles: ['RegionPeer'], Tags: [{ TagKey: 'hsmkms:PeerRegion', TagValue: from }] });
  await hsmkms(['region', 'add', to, '--endpoint', served.get(to)!.endpoint, '--data-dir', dataDir(from)], {
    AWS_ACCESS_KEY_ID: String(peer.AccessKeyId),
    AWS_SECRET_ACCESS_KEY: String(peer.SecretAccessKey),
  });
}

beforeAll(async () => {
  const started = await Promise.all(
    REGIONS.map((region) =>
      serve(['--data-dir', dataDir(region), '--region', region, '--port', '0', '--workers', '1', '--log-level', 'warn', '--scheduler-interval', '0.2']),
    ),
  );
  REGIONS.forEach((region, i) => {
    served.set(region, started[i]!);
    kms.set(region, new KMSClient({ region, endpoint: started[i]!.endpoint, credentials: rootOf(region), maxAttempts: 1 }));
  });
  // The primary's deployment (A at first, then B) reaches the other two.
  for (const [from, to] of [[A, B], [A, C], [B, A], [B, C]] as const) await registerPeer(from, to);
}, 240_000);

afterAll(async () => {
  for (const k of kms.values()) k.destroy();
  await Promise.all([...served.values()].map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const metadataIn = async (region: string, keyId: string) => (await client(region).send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
const stateIn = (region: string, keyId: string) => metadataIn(region, keyId).then((m) => m.KeyState, (e: Error) => e.name);

/** A multi-Region key made in A, with Enabled replicas in B and C. */
async function replicatedInBAndC() {
  const key = (await client(A).send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
  for (const region of [B, C]) {
    await client(A).send(new ReplicateKeyCommand({ KeyId: key.KeyId!, ReplicaRegion: region }));
    await expect.poll(() => stateIn(region, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Enabled');
  }
  return key;
}

describe('UpdatePrimaryRegion with replicas in two other regions', () => {
  it('the new primary keeps every replica in step, those the former primary made included: its rotation and rotation settings reach the third region and the former primary', async () => {
    const key = await replicatedInBAndC();
    const keyId = key.KeyId!;

    await client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }));
    for (const region of REGIONS)
      await expect
        .poll(async () => [(await metadataIn(region, keyId)).KeyState, (await metadataIn(region, keyId)).MultiRegionConfiguration?.PrimaryKey?.Region], { timeout: 30_000, interval: 100 })
        .toStrictEqual(['Enabled', B]);

    // A change only the primary makes, made on the new primary: it reaches the replica that A's peer principal made in C, and A's own key.
    await client(B).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 180 }));
    for (const region of [A, C])
      await expect
        .poll(async () => (await client(region).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).RotationPeriodInDays, { timeout: 30_000, interval: 100 })
        .toBe(180);
    await client(B).send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    await expect.poll(() => stateIn(B, keyId), { timeout: 30_000, interval: 100 }).toBe('Enabled');
    const rotated = (await metadataIn(B, keyId)).CurrentKeyMaterialId!;
    expect(rotated).not.toBe(key.CurrentKeyMaterialId);
    for (const region of [A, C]) await expect.poll(async () => (await metadataIn(region, keyId)).CurrentKeyMaterialId, { timeout: 30_000, interval: 100 }).toBe(rotated);
    // Made with the new version in B, opened in C.
    const sealed = await client(B).send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('rotated in eu-west-1') }));
    expect(Buffer.from((await client(C).send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }))).Plaintext!).toString()).toBe('rotated in eu-west-1');
  });

  it('a replica region that missed the change of primary (unreachable then) follows the new primary once it is back: the former primary tells it, and the new primary\'s changes reach it', async () => {
    const key = await replicatedInBAndC();
    const keyId = key.KeyId!;
    const port = new URL(served.get(C)!.endpoint).port;
    await served.get(C)!.stop();
    await client(A).send(new UpdatePrimaryRegionCommand({ KeyId: keyId, PrimaryRegion: B }));
    for (const region of [A, B])
      await expect.poll(async () => (await metadataIn(region, keyId)).MultiRegionConfiguration?.PrimaryKey?.Region, { timeout: 30_000, interval: 100 }).toBe(B);

    // C comes back where its peers know it.
    const back = await serve(['--data-dir', dataDir(C), '--region', C, '--port', port, '--workers', '1', '--log-level', 'warn', '--scheduler-interval', '0.2']);
    served.set(C, back);
    client(C).destroy();
    kms.set(C, new KMSClient({ region: C, endpoint: back.endpoint, credentials: rootOf(C), maxAttempts: 1 }));
    await expect.poll(async () => (await metadataIn(C, keyId)).MultiRegionConfiguration?.PrimaryKey?.Region, { timeout: 30_000, interval: 200 }).toBe(B);
    // Only the new primary's deployment may change it now, and its change arrives.
    await client(B).send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 200 }));
    await expect
      .poll(async () => (await client(C).send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).RotationPeriodInDays, { timeout: 30_000, interval: 200 })
      .toBe(200);
  }, 180_000);
});
