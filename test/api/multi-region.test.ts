/**
 * Multi-Region keys across two real deployments on this machine: two `hsmkms serve` processes,
 * each with its own data directory, its own embedded SoftHSM2 token and its own `--region`. The
 * eu-west-1 deployment is registered as a region peer of us-east-1 (`hsmkms region add`, with a
 * RegionPeer of eu-west-1 as the peer principal), and the AWS SDK talks to both. As in AWS, a
 * replica is `Creating` when ReplicateKey answers, so the tests wait (poll DescribeKey) until it is
 * there; the scheduler runs every 0.2 s, which also makes the first retries that short.
 */
import { execFile } from 'node:child_process';
import { constants, createPublicKey, diffieHellman, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  EnableKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListKeysCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  UpdatePrimaryRegionCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { HSMKMS_BIN, hsmkms, serve, type Served } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hsmkms-regions-'));
const us = 'us-east-1';
const eu = 'eu-west-1';
let east: Served;
let west: Served;
let kmsEast: KMSClient;
let kmsWest: KMSClient;
let peerCredentials: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };
let adminWest: HsmKmsClient;

const dataDir = (region: string) => join(dir, region);
const rootOf = (region: string) => JSON.parse(readFileSync(join(dataDir(region), 'root-credentials.json'), 'utf8')) as { accessKeyId: string; secretAccessKey: string };
const client = (region: string, endpoint: string) => new KMSClient({ region, endpoint, credentials: rootOf(region), maxAttempts: 1 });

async function refusal(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  const start = (region: string) =>
    serve(['--data-dir', dataDir(region), '--region', region, '--port', '0', '--workers', '1', '--log-level', 'warn', '--scheduler-interval', '0.2']);
  [east, west] = await Promise.all([start(us), start(eu)]);
  kmsEast = client(us, east.endpoint);
  kmsWest = client(eu, west.endpoint);
  // The peer principal: a RegionPeer of eu-west-1, whose credentials us-east-1 keeps sealed.
  adminWest = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: rootOf(eu) });
  const peer = await adminWest.call('CreatePrincipal', { UserName: 'replicator-us-east-1', Roles: ['RegionPeer'], Tags: [{ TagKey: 'hsmkms:PeerRegion', TagValue: us }] });
  peerCredentials = { AWS_ACCESS_KEY_ID: String(peer.AccessKeyId), AWS_SECRET_ACCESS_KEY: String(peer.SecretAccessKey) };
  const { stdout } = await hsmkms(['region', 'add', eu, '--endpoint', west.endpoint, '--data-dir', dataDir(us)], peerCredentials);
  expect(JSON.parse(stdout)).toStrictEqual({ region: eu, endpoint: west.endpoint, accessKeyId: peer.AccessKeyId, peerPrincipal: peer.Arn, peerRegion: us });
  westRegistered = west.endpoint;
}, 240_000);

afterAll(async () => {
  kmsEast?.destroy();
  kmsWest?.destroy();
  await Promise.all([east?.stop(), west?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The key's state in a region, or the error name while it is not there. */
async function stateIn(kms: KMSClient, keyId: string): Promise<string | undefined> {
  return kms.send(new DescribeKeyCommand({ KeyId: keyId })).then(
    (out) => out.KeyMetadata!.KeyState,
    (error: Error) => error.name,
  );
}

/** Waits until the replica in eu-west-1 is `state` (Enabled, or PendingImport for imported material). */
async function replicaReady(keyId: string, state = 'Enabled'): Promise<void> {
  await expect.poll(() => stateIn(kmsWest, keyId), { timeout: 30_000, interval: 100 }).toBe(state);
}

let westRegistered = '';
/** Points eu-west-1 at `endpoint` (a closed port: unreachable), as an operator would with `hsmkms region add`. */
async function registerWest(endpoint: string): Promise<void> {
  if (endpoint === westRegistered) return;
  await hsmkms(['region', 'add', eu, '--endpoint', endpoint, '--no-check', '--data-dir', dataDir(us)], peerCredentials);
  westRegistered = endpoint;
}

/** A loopback endpoint where nothing listens. */
async function closedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * A pass-through to `target` (eu-west-1's endpoint) that holds every HsmKms.ImportReplica until
 * `release()`: the replica's material is on its way, as on a slow link.
 */
async function holdingImports(target: string): Promise<{ endpoint: string; release(): void; close(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const hold = String(req.headers['x-amz-target']).endsWith('.ImportReplica') ? released : Promise.resolve();
      void hold.then(() => {
        const out = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    release,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('multi-Region keys between two deployments', () => {
  it('CreateKey MultiRegion: an mrk- key that is its own primary, with no replicas yet', async () => {
    const { KeyMetadata: key } = await kmsEast.send(new CreateKeyCommand({ MultiRegion: true, Description: 'mrk' }));
    expect(key!.KeyId).toMatch(/^mrk-[0-9a-f]{32}$/);
    expect(key!.MultiRegion).toBe(true);
    const arn = `arn:aws:kms:${us}:111122223333:key/${key!.KeyId}`;
    expect(key!.MultiRegionConfiguration).toStrictEqual({ MultiRegionKeyType: 'PRIMARY', PrimaryKey: { Arn: arn, Region: us }, ReplicaKeys: [] });
    const described = (await kmsEast.send(new DescribeKeyCommand({ KeyId: key!.KeyId }))).KeyMetadata!;
    expect(described.MultiRegionConfiguration).toStrictEqual(key!.MultiRegionConfiguration);
    const single = (await kmsEast.send(new CreateKeyCommand({}))).KeyMetadata!;
    expect(single.MultiRegion).toBe(false);
    expect(single.MultiRegionConfiguration).toBeUndefined();
  });

  it('refuses what AWS refuses, and what this service cannot do yet, by name', async () => {
    const store = await refusal(kmsEast.send(new CreateKeyCommand({ MultiRegion: true, Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0' })));
    expect(store.name).toBe('UnsupportedOperationException');
    const single = (await kmsEast.send(new CreateKeyCommand({}))).KeyMetadata!;
    const notMrk = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: single.KeyId, ReplicaRegion: eu })));
    expect(notMrk).toMatchObject({ name: 'UnsupportedOperationException', message: expect.stringMatching(/not a multi-Region key/) });
    const mrk = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    const nowhere = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: mrk.KeyId, ReplicaRegion: 'ap-south-1' })));
    expect(nowhere).toMatchObject({ name: 'UnsupportedOperationException', message: expect.stringMatching(/hsmkms region add ap-south-1/) });
    const self = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: mrk.KeyId, ReplicaRegion: us })));
    expect(self.name).toBe('ValidationException');
    const badRegion = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: mrk.KeyId, ReplicaRegion: 'Mars' })));
    expect(badRegion.name).toBe('ValidationException');
    // A policy the replica region rejects is refused there, and nothing is created anywhere.
    const malformed = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: mrk.KeyId, ReplicaRegion: eu, Policy: '{"Statement":' })));
    expect(malformed.name).toBe('MalformedPolicyDocumentException');
    expect((await refusal(kmsWest.send(new DescribeKeyCommand({ KeyId: mrk.KeyId })))).name).toBe('NotFoundException');
    expect((await kmsEast.send(new DescribeKeyCommand({ KeyId: mrk.KeyId }))).KeyMetadata!.MultiRegionConfiguration!.ReplicaKeys).toStrictEqual([]);
  });

  it('ReplicateKey: the replica decrypts what the primary encrypted, and the other way round', async () => {
    const primary = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true, Description: 'primary', Tags: [{ TagKey: 'side', TagValue: 'east' }] }))).KeyMetadata!;
    const context = { app: 'regions' };
    const sealed = await kmsEast.send(new EncryptCommand({ KeyId: primary.KeyId, Plaintext: Buffer.from('made in us-east-1'), EncryptionContext: context }));

    const replicated = await kmsEast.send(
      new ReplicateKeyCommand({ KeyId: primary.Arn, ReplicaRegion: eu, Description: 'replica', Tags: [{ TagKey: 'side', TagValue: 'west' }] }),
    );
    const replicaArn = `arn:aws:kms:${eu}:111122223333:key/${primary.KeyId}`;
    expect(replicated.ReplicaKeyMetadata).toMatchObject({
      KeyId: primary.KeyId,
      Arn: replicaArn,
      KeyState: 'Creating',
      Enabled: false,
      Description: 'replica',
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Origin: 'AWS_KMS',
      MultiRegion: true,
      MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Arn: primary.Arn, Region: us }, ReplicaKeys: [{ Arn: replicaArn, Region: eu }] },
    });
    expect(replicated.ReplicaKeyMetadata!.CurrentKeyMaterialId).toBe(primary.CurrentKeyMaterialId);
    expect(JSON.parse(replicated.ReplicaPolicy!).Statement[0].Principal.AWS).toBe('arn:aws:iam::111122223333:root');
    expect(replicated.ReplicaTags).toStrictEqual([{ TagKey: 'side', TagValue: 'west' }]);
    await replicaReady(primary.KeyId!);
    expect((await kmsWest.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata).toMatchObject({
      Arn: replicaArn,
      Description: 'replica',
      Enabled: true,
      CurrentKeyMaterialId: primary.CurrentKeyMaterialId,
      MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Arn: primary.Arn, Region: us }, ReplicaKeys: [{ Arn: replicaArn, Region: eu }] },
    });

    const opened = await kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(opened.Plaintext!).toString()).toBe('made in us-east-1');
    expect(opened.KeyId).toBe(replicaArn);
    const back = await kmsWest.send(new EncryptCommand({ KeyId: primary.KeyId, Plaintext: Buffer.from('made in eu-west-1'), EncryptionContext: context }));
    const reopened = await kmsEast.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(reopened.Plaintext!).toString()).toBe('made in eu-west-1');
    expect((await refusal(kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: { app: 'other' } })))).name).toBe('InvalidCiphertextException');

    const east = (await kmsEast.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata!;
    expect(east.MultiRegionConfiguration!.ReplicaKeys).toStrictEqual([{ Arn: replicaArn, Region: eu }]);
    expect(east.Description).toBe('primary');

    const again = await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: eu })));
    expect(again.name).toBe('AlreadyExistsException');
    const fromReplica = await refusal(kmsWest.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: us })));
    expect(fromReplica).toMatchObject({ name: 'UnsupportedOperationException', message: expect.stringMatching(/replica key/) });
  });

  it('an ECC signing key: the replica signs, the primary verifies, with one public key', async () => {
    const primary = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: eu }));
    await replicaReady(primary.KeyId!);
    const [a, b] = await Promise.all([kmsEast, kmsWest].map((k) => k.send(new GetPublicKeyCommand({ KeyId: primary.KeyId }))));
    expect(Buffer.from(b!.PublicKey!).equals(Buffer.from(a!.PublicKey!))).toBe(true);
    const message = Buffer.from('signed in eu-west-1');
    const { Signature } = await kmsWest.send(new SignCommand({ KeyId: primary.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const verified = await kmsEast.send(new VerifyCommand({ KeyId: primary.KeyId, Message: message, Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(verified.SignatureValid).toBe(true);
  });

  it('a KEY_AGREEMENT key: both regions derive the same ECDH secret, and neither signs with it', async () => {
    const primary = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true, KeySpec: 'ECC_NIST_P384', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
    expect(primary).toMatchObject({ MultiRegion: true, KeyUsage: 'KEY_AGREEMENT', KeyAgreementAlgorithms: ['ECDH'] });
    const replicated = await kmsEast.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: eu }));
    expect(replicated.ReplicaKeyMetadata).toMatchObject({ KeyState: 'Creating', KeyUsage: 'KEY_AGREEMENT', KeySpec: 'ECC_NIST_P384' });
    await replicaReady(primary.KeyId!);
    expect((await kmsWest.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata).toMatchObject({ KeyUsage: 'KEY_AGREEMENT', KeyAgreementAlgorithms: ['ECDH'] });
    const [a, b] = await Promise.all([kmsEast, kmsWest].map((k) => k.send(new GetPublicKeyCommand({ KeyId: primary.KeyId }))));
    expect(Buffer.from(b!.PublicKey!).equals(Buffer.from(a!.PublicKey!))).toBe(true);
    const peer = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const PublicKey = peer.publicKey.export({ format: 'der', type: 'spki' });
    const [east, west] = await Promise.all([kmsEast, kmsWest].map((k) => k.send(new DeriveSharedSecretCommand({ KeyId: primary.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey }))));
    const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: createPublicKey({ key: Buffer.from(a!.PublicKey!), format: 'der', type: 'spki' }) });
    expect(Buffer.from(east!.SharedSecret!).equals(expected)).toBe(true);
    expect(Buffer.from(west!.SharedSecret!).equals(expected)).toBe(true);
    for (const kms of [kmsEast, kmsWest])
      expect((await refusal(kms.send(new SignCommand({ KeyId: primary.KeyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_384' })))).name).toBe('InvalidKeyUsageException');
  });

  it('rotation: every version travels, the replica follows the primary\'s rotations and settings', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    const encrypt = (kms: KMSClient, text: string) => kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from(text) }));
    const decrypt = async (kms: KMSClient, blob: Uint8Array) => Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString();
    const first = await encrypt(kmsEast, 'first material');
    // Rotated before it has replicas: ReplicateKey sends both versions.
    await kmsEast.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    const second = await encrypt(kmsEast, 'second material');
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    await replicaReady(key.KeyId!);
    expect(await decrypt(kmsWest, first.CiphertextBlob!)).toBe('first material');
    expect(await decrypt(kmsWest, second.CiphertextBlob!)).toBe('second material');

    // Rotation settings and rotations are the primary's; the replica follows.
    expect((await refusal(kmsWest.send(new EnableKeyRotationCommand({ KeyId: key.KeyId })))).message).toMatch(/follows its primary key in us-east-1/);
    expect((await refusal(kmsWest.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })))).name).toBe('UnsupportedOperationException');
    await kmsEast.send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 180 }));
    expect(await kmsWest.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }))).toMatchObject({ KeyRotationEnabled: true, RotationPeriodInDays: 180 });
    await kmsEast.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    // Updating until eu-west-1 has the new version, then current in both.
    await expect.poll(() => stateIn(kmsEast, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Enabled');
    const [east, west] = await Promise.all([kmsEast, kmsWest].map(async (k) => (await k.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!));
    expect(east!.CurrentKeyMaterialId).not.toBe(key.CurrentKeyMaterialId);
    expect(west!.CurrentKeyMaterialId).toBe(east!.CurrentKeyMaterialId);
    const rotations = (await kmsWest.send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations!;
    expect(rotations.map((r) => r.RotationType)).toStrictEqual(['ON_DEMAND', 'ON_DEMAND']);
    const third = await encrypt(kmsWest, 'third material');
    expect(await decrypt(kmsEast, third.CiphertextBlob!)).toBe('third material');
    expect(await decrypt(kmsWest, (await encrypt(kmsEast, 'made after')).CiphertextBlob!)).toBe('made after');
  });

  it('UpdatePrimaryRegion moves the primary; a primary with replicas waits for them in PendingReplicaDeletion', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    await replicaReady(key.KeyId!);
    const eastArn = key.Arn!;
    const westArn = `arn:aws:kms:${eu}:111122223333:key/${key.KeyId}`;
    const sealed = await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('before deletion was scheduled') }));

    // AWS: no deletion date yet (it starts when the last replica is deleted), unusable, and cancellable.
    const scheduled = await kmsEast.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    expect(scheduled).toMatchObject({ KeyId: eastArn, KeyState: 'PendingReplicaDeletion', PendingWindowInDays: 7 });
    expect(scheduled.DeletionDate).toBeUndefined();
    const pending = (await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    expect(pending).toMatchObject({ KeyState: 'PendingReplicaDeletion', PendingDeletionWindowInDays: 7, Enabled: false });
    expect(pending.DeletionDate).toBeUndefined();
    expect((await refusal(kmsEast.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob })))).name).toBe('KMSInvalidStateException');
    expect((await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: 'ap-south-1' })))).name).toBe('KMSInvalidStateException');
    expect((await refusal(kmsEast.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId })))).name).toBe('KMSInvalidStateException');
    // The replica is its own key: still usable in its region.
    expect(Buffer.from((await kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }))).Plaintext!).toString()).toBe('before deletion was scheduled');
    await kmsEast.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    expect(await stateIn(kmsEast, key.KeyId!)).toBe('Disabled');
    await kmsEast.send(new EnableKeyCommand({ KeyId: key.KeyId }));

    expect((await refusal(kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: 'ap-south-1' })))).name).toBe('NotFoundException');
    expect((await refusal(kmsWest.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: us })))).name).toBe('UnsupportedOperationException');
    await kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: eu }));
    await expect.poll(() => stateIn(kmsEast, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Enabled');
    const [east, west] = await Promise.all([kmsEast, kmsWest].map(async (k) => (await k.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!));
    expect(east!.MultiRegionConfiguration).toStrictEqual({ MultiRegionKeyType: 'REPLICA', PrimaryKey: { Arn: westArn, Region: eu }, ReplicaKeys: [{ Arn: eastArn, Region: us }] });
    expect(west!.MultiRegionConfiguration).toStrictEqual({ MultiRegionKeyType: 'PRIMARY', PrimaryKey: { Arn: westArn, Region: eu }, ReplicaKeys: [{ Arn: eastArn, Region: us }] });
    expect((await refusal(kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: eu })))).name).toBe('UnsupportedOperationException');

    // Now a replica, the us-east-1 key enters its waiting period at once; the eu-west-1 primary
    // waits for it (eu-west-1 has no peer registered for us-east-1 to ask: it keeps waiting).
    const replica = await kmsEast.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    expect(replica.KeyState).toBe('PendingDeletion');
    expect(replica.DeletionDate).toBeInstanceOf(Date);
    const primary = await kmsWest.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    expect(primary).toMatchObject({ KeyState: 'PendingReplicaDeletion', PendingWindowInDays: 7 });
  });

  it('a region that cannot be reached: the replica stays Creating, the key Updating, until the region answers', async () => {
    await registerWest(await closedEndpoint());
    try {
      const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
      const sealed = await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('made before the replica') }));
      const replicated = await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
      expect(replicated.ReplicaKeyMetadata).toMatchObject({ KeyState: 'Creating', MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA' } });
      const replicaArn = `arn:aws:kms:${eu}:111122223333:key/${key.KeyId}`;
      // The primary lists it while it is being made; the region has nothing yet, and keeps having nothing.
      for (let pass = 0; pass < 3; pass++) {
        expect((await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.MultiRegionConfiguration!.ReplicaKeys).toStrictEqual([{ Arn: replicaArn, Region: eu }]);
        expect(await stateIn(kmsWest, key.KeyId!)).toBe('NotFoundException');
      }
      expect((await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu })))).name).toBe('AlreadyExistsException');

      await registerWest(west.endpoint);
      await replicaReady(key.KeyId!);
      const opened = await kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }));
      expect(Buffer.from(opened.Plaintext!).toString()).toBe('made before the replica');

      // A rotation while eu-west-1 cannot be reached: Updating, the old version still current, until it answers.
      await registerWest(await closedEndpoint());
      await kmsEast.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
      const rotating = (await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
      expect(rotating).toMatchObject({ KeyState: 'Updating', CurrentKeyMaterialId: key.CurrentKeyMaterialId });
      expect((await refusal(kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: eu })))).name).toBe('KMSInvalidStateException');
      await registerWest(west.endpoint);
      await expect.poll(() => stateIn(kmsEast, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Enabled');
      const [rotatedEast, rotatedWest] = await Promise.all([kmsEast, kmsWest].map(async (k) => (await k.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!));
      expect(rotatedEast!.CurrentKeyMaterialId).not.toBe(key.CurrentKeyMaterialId);
      expect(rotatedWest!.CurrentKeyMaterialId).toBe(rotatedEast!.CurrentKeyMaterialId);
      const afterRotation = await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('made after the rotation') }));
      expect(Buffer.from((await kmsWest.send(new DecryptCommand({ CiphertextBlob: afterRotation.CiphertextBlob }))).Plaintext!).toString()).toBe('made after the rotation');

      // UpdatePrimaryRegion while eu-west-1 cannot be reached: Updating (and still usable) until it answers.
      await registerWest(await closedEndpoint());
      expect(await kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: eu }))).toMatchObject({});
      const updating = (await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
      expect(updating).toMatchObject({ KeyState: 'Updating', MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY' } });
      await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('while updating') }));
      expect((await refusal(kmsEast.send(new UpdatePrimaryRegionCommand({ KeyId: key.KeyId, PrimaryRegion: eu })))).name).toBe('KMSInvalidStateException');
      await registerWest(west.endpoint);
      await expect.poll(() => stateIn(kmsEast, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Enabled');
      const [east, westKey] = await Promise.all([kmsEast, kmsWest].map(async (k) => (await k.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!));
      expect(east!.MultiRegionConfiguration!.MultiRegionKeyType).toBe('REPLICA');
      expect(westKey!.MultiRegionConfiguration!.MultiRegionKeyType).toBe('PRIMARY');
    } finally {
      await registerWest(west.endpoint);
    }
  });

  it('a replica the region refuses for good is removed from the set, and that is audited', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    // A policy that does not let the peer principal manage the replica fails eu-west-1's lockout check.
    const lockout = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/nobody' }, Action: 'kms:*', Resource: '*' }] });
    await registerWest(await closedEndpoint());
    try {
      const replicated = await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu, Policy: lockout }));
      expect(replicated.ReplicaKeyMetadata!.KeyState).toBe('Creating');
    } finally {
      await registerWest(west.endpoint);
    }
    await expect
      .poll(async () => (await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.MultiRegionConfiguration!.ReplicaKeys, { timeout: 30_000, interval: 100 })
      .toStrictEqual([]);
    expect(await stateIn(kmsWest, key.KeyId!)).toBe('NotFoundException');
    // Recorded right after the region left the set.
    const search = async () => {
      const { stdout } = await hsmkms(['audit', 'search', '--event-name', 'ReplicateKey', '--key', key.KeyId!, '--error-code', 'MalformedPolicyDocumentException', '--json', '--data-dir', dataDir(us)]);
      return stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
    };
    let found: Array<Record<string, any>> = [];
    await expect.poll(async () => (found = await search()).length, { timeout: 30_000, interval: 200 }).toBe(1);
    const [given] = found;
    expect(given!.userIdentity).toMatchObject({ type: 'AWSService', invokedBy: 'kms.amazonaws.com' });
    expect(JSON.stringify(given)).toContain(eu);
  });

  it('the replica region shows the replica Creating (described, listed, refused for use) while its material is on its way', async () => {
    const proxy = await holdingImports(west.endpoint);
    try {
      await registerWest(proxy.endpoint);
      const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
      const sealed = await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('sealed in us-east-1') }));
      const replicated = await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu, Description: 'held replica' }));
      expect(replicated.ReplicaKeyMetadata!.KeyState).toBe('Creating');
      // Once eu-west-1 has been asked for the transport key (within the call's 2 s, unless the machine is busy).
      await expect.poll(() => stateIn(kmsWest, key.KeyId!), { timeout: 30_000, interval: 100 }).toBe('Creating');
      const creating = (await kmsWest.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
      expect(creating).toMatchObject({
        Arn: `arn:aws:kms:${eu}:111122223333:key/${key.KeyId}`,
        KeyState: 'Creating',
        Enabled: false,
        Description: 'held replica',
        MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Region: us }, ReplicaKeys: [{ Region: eu }] },
      });
      const listed: string[] = [];
      for (let marker: string | undefined, page = 0; page === 0 || marker; page++) {
        const out = await kmsWest.send(new ListKeysCommand({ Limit: 100, Marker: marker }));
        listed.push(...out.Keys!.map((k) => k.KeyId!));
        marker = out.NextMarker;
      }
      expect(listed).toContain(key.KeyId);
      expect((await refusal(kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob })))).name).toBe('KMSInvalidStateException');
      expect((await refusal(kmsWest.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })))).name).toBe('KMSInvalidStateException');
      expect((await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu })))).name).toBe('AlreadyExistsException');

      proxy.release();
      await replicaReady(key.KeyId!);
      expect((await kmsWest.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata).toMatchObject({ Description: 'held replica', CurrentKeyMaterialId: key.CurrentKeyMaterialId });
      expect(Buffer.from((await kmsWest.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }))).Plaintext!).toString()).toBe('sealed in us-east-1');
    } finally {
      proxy.release();
      await registerWest(west.endpoint);
      await proxy.close();
    }
  });

  it('Origin EXTERNAL: each region imports the same material; different material is refused', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true, Origin: 'EXTERNAL' }))).KeyMetadata!;
    expect(key).toMatchObject({ KeyId: expect.stringMatching(/^mrk-/), Origin: 'EXTERNAL', KeyState: 'PendingImport', MultiRegion: true });
    expect((await refusal(kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu })))).message).toMatch(/import it first/);
    const material = randomBytes(32);
    const importInto = async (kms: KMSClient, bytes: Buffer) => {
      const params = await kms.send(new GetParametersForImportCommand({ KeyId: key.KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      const wrappingKey = createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' });
      const EncryptedKeyMaterial = publicEncrypt({ key: wrappingKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, bytes);
      return kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
    };
    await importInto(kmsEast, material);
    const replicated = await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    expect(replicated.ReplicaKeyMetadata).toMatchObject({ KeyState: 'Creating', Origin: 'EXTERNAL' });
    await replicaReady(key.KeyId!, 'PendingImport');
    expect((await refusal(importInto(kmsWest, randomBytes(32)))).name).toBe('IncorrectKeyMaterialException');
    expect(await stateIn(kmsWest, key.KeyId!)).toBe('PendingImport');
    await importInto(kmsWest, material);
    const [east, westKey] = await Promise.all([kmsEast, kmsWest].map(async (k) => (await k.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!));
    expect(westKey).toMatchObject({ KeyState: 'Enabled', Origin: 'EXTERNAL', CurrentKeyMaterialId: east!.CurrentKeyMaterialId, MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA' } });
    const fromEast = await kmsEast.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('imported in both') }));
    expect(Buffer.from((await kmsWest.send(new DecryptCommand({ CiphertextBlob: fromEast.CiphertextBlob }))).Plaintext!).toString()).toBe('imported in both');
    const fromWest = await kmsWest.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('and back') }));
    expect(Buffer.from((await kmsEast.send(new DecryptCommand({ CiphertextBlob: fromWest.CiphertextBlob }))).Plaintext!).toString()).toBe('and back');
  });

  it('the transfer is in both audit trails, and neither token holds an extractable key', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    await replicaReady(key.KeyId!);
    const search = async (region: string, eventName: string) => {
      const { stdout } = await hsmkms(['audit', 'search', '--event-name', eventName, '--key', key.KeyId!, '--json', '--data-dir', dataDir(region)]);
      return stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    // The call (by the root) and the transfer it started (by the service, recorded once it is done).
    let sent: Array<Record<string, unknown>> = [];
    await expect.poll(async () => (sent = await search(us, 'ReplicateKey')).length, { timeout: 30_000, interval: 200 }).toBe(2);
    for (const record of sent) expect(JSON.stringify(record)).toContain(eu);
    expect(sent.map((record) => (record.userIdentity as { type: string }).type).sort()).toStrictEqual(['AWSService', 'Root']);
    for (const eventName of ['HsmKms.PrepareReplica', 'HsmKms.ImportReplica']) {
      const [received] = await search(eu, eventName);
      expect(JSON.stringify(received), eventName).toContain('replicator-us-east-1');
      expect(JSON.stringify(received)).not.toContain('WrappedMaterial');
    }

    for (const region of [us, eu]) {
      const pin = readFileSync(join(dataDir(region), 'user.pin'), 'utf8').trim();
      const listing = await promisify(execFile)('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', 'hsmkms', '--login', '--pin', pin, '--list-objects'], {
        env: { ...process.env, SOFTHSM2_CONF: join(dataDir(region), 'softhsm2.conf') },
      });
      const keys = listing.stdout.split(/\n(?=\S)/).filter((b) => /(Secret|Private) Key Object/.test(b));
      expect(keys.some((b) => b.includes('hsmkms-replication-key')), region).toBe(true);
      for (const block of keys) expect(block, `${region}: ${block}`).toMatch(/Access:.*never extractable/);
    }
  });

  it('the AWS CLI v2 (/usr/bin/aws, unmodified): create-key --multi-region, replicate-key, update-primary-region', async () => {
    const aws = async (region: string, endpoint: string, args: string[]) => {
      const { accessKeyId, secretAccessKey } = rootOf(region);
      const { stdout } = await promisify(execFile)('/usr/bin/aws', [...args, '--endpoint-url', endpoint, '--region', region, '--output', 'json'], {
        env: { ...process.env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      });
      return stdout.trim() === '' ? {} : (JSON.parse(stdout) as Record<string, any>);
    };
    const created = await aws(us, east.endpoint, ['kms', 'create-key', '--multi-region']);
    const keyId: string = created.KeyMetadata.KeyId;
    expect(created.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType).toBe('PRIMARY');
    const replicated = await aws(us, east.endpoint, ['kms', 'replicate-key', '--key-id', keyId, '--replica-region', eu, '--description', 'cli replica']);
    expect(replicated.ReplicaKeyMetadata.MultiRegionConfiguration).toMatchObject({ MultiRegionKeyType: 'REPLICA', PrimaryKey: { Region: us } });
    expect(replicated.ReplicaKeyMetadata.Description).toBe('cli replica');
    await replicaReady(keyId);
    await aws(us, east.endpoint, ['kms', 'update-primary-region', '--key-id', keyId, '--primary-region', eu]);
    await expect.poll(() => stateIn(kmsEast, keyId), { timeout: 30_000, interval: 100 }).toBe('Enabled');
    const described = await aws(eu, west.endpoint, ['kms', 'describe-key', '--key-id', keyId]);
    expect(described.KeyMetadata.MultiRegionConfiguration).toMatchObject({ MultiRegionKeyType: 'PRIMARY', ReplicaKeys: [{ Region: us }] });
  });

  it('hsmkms region: lists peers without secrets, refuses a clear-text remote endpoint', async () => {
    const { stdout } = await hsmkms(['region', 'list', '--data-dir', dataDir(us)]);
    const [peer] = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(Object.keys(peer!).sort()).toStrictEqual(['accessKeyId', 'createdAt', 'endpoint', 'region']);
    const plain = await promisify(execFile)(process.execPath, [HSMKMS_BIN, 'region', 'add', 'ap-south-1', '--endpoint', 'http://kms.example.com', '--no-check', '--data-dir', dataDir(us)], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' },
    }).then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    expect(plain).toMatch(/^hsmkms: --endpoint must be https:/);
  });
});

describe('the peer-to-peer operations are for the RegionPeer principal alone', () => {
  const replica = { KeyUsage: 'ENCRYPT_DECRYPT', PrimaryRegion: us, Regions: [us] };
  const principalOf = async (UserName: string, Roles: string[], peerRegion?: string) => {
    const Tags = peerRegion ? [{ TagKey: 'hsmkms:PeerRegion', TagValue: peerRegion }] : [];
    const made = await adminWest.call('CreatePrincipal', { UserName, Roles, Tags });
    return { accessKeyId: String(made.AccessKeyId), secretAccessKey: String(made.SecretAccessKey) };
  };
  const keyId = () => `mrk-${randomBytes(16).toString('hex')}`;

  it('a CryptoUser or CryptoOfficer of the replica region cannot make, fill, update or remove a replica (it would choose its material)', async () => {
    const replicated = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: replicated.KeyId, ReplicaRegion: eu }));
    await replicaReady(replicated.KeyId!);
    for (const [name, roles] of [['app-eu', ['CryptoUser']], ['officer-eu', ['CryptoOfficer']]] as const) {
      const caller = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: await principalOf(name, [...roles]) });
      const target = keyId();
      const calls: Array<[string, Record<string, unknown>]> = [
        ['PrepareReplica', { KeyId: target, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replica }],
        ['PrepareReplica', { KeyId: replicated.KeyId, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true }],
        ['ImportReplica', { Origin: 'EXTERNAL', KeyId: target, KeySpec: 'SYMMETRIC_DEFAULT', CurrentKeyMaterialId: 'ab'.repeat(32), ...replica }],
        ['AbandonReplica', { KeyId: replicated.KeyId, PrimaryRegion: us }],
        ['SyncMultiRegionKey', { KeyId: replicated.KeyId, PrimaryRegion: us, Regions: [us, eu], RotationEnabled: false }],
      ];
      for (const [operation, input] of calls) {
        const refused = await refusal(caller.call(operation, input));
        expect(refused, `${name} ${operation}`).toMatchObject({ name: 'AccessDeniedException' });
        expect(refused.message, `${name} ${operation}`).toContain(`the ${roles[0]} role may never perform replica key`);
        expect(refused.message).toContain(`hsmkms principal set-roles ${name} --role RegionPeer`);
      }
      expect(await stateIn(kmsWest, target)).toBe('NotFoundException');
      expect(await stateIn(kmsWest, replicated.KeyId!)).toBe('Enabled');
    }
  });

  it("another region's RegionPeer gets no transport key for a replica it did not make; the replica's own peer principal does", async () => {
    const replicated = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: replicated.KeyId, ReplicaRegion: eu }));
    await replicaReady(replicated.KeyId!);
    const otherPeer = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: await principalOf('replicator-ap-south-1', ['RegionPeer'], 'ap-south-1') });
    const refused = await refusal(otherPeer.call('PrepareReplica', { KeyId: replicated.KeyId, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true }));
    expect(refused).toMatchObject({ name: 'AccessDeniedException', message: expect.stringContaining('hsmkms:ImportReplicaVersions') });
    // The replica's own peer principal still gets one (as a rotation of the primary sends it).
    const owner = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: { accessKeyId: peerCredentials.AWS_ACCESS_KEY_ID, secretAccessKey: peerCredentials.AWS_SECRET_ACCESS_KEY } });
    expect(await owner.call('PrepareReplica', { KeyId: replicated.KeyId, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true })).toMatchObject({ TransportKeyId: expect.any(String) });
  });

  it('the RegionPeer principal uses, creates, lists and manages nothing, not even the replicas it made; it cannot hold another role', async () => {
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    await replicaReady(key.KeyId!);
    const credentials = { accessKeyId: peerCredentials.AWS_ACCESS_KEY_ID, secretAccessKey: peerCredentials.AWS_SECRET_ACCESS_KEY };
    const asPeer = new KMSClient({ region: eu, endpoint: west.endpoint, credentials, maxAttempts: 1 });
    try {
      for (const attempt of [
        asPeer.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })),
        asPeer.send(new CreateKeyCommand({})),
        asPeer.send(new ListKeysCommand({})),
        asPeer.send(new DescribeKeyCommand({ KeyId: key.KeyId })),
        asPeer.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 })),
      ])
        expect((await refusal(attempt)).name).toBe('AccessDeniedException');
    } finally {
      asPeer.destroy();
    }
    const peerAdmin = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials });
    expect((await refusal(peerAdmin.call('CreatePrincipal', { UserName: 'made-by-peer' }))).name).toBe('AccessDeniedException');
    expect(await peerAdmin.call('GetCallerIdentity')).toMatchObject({ UserName: 'replicator-us-east-1', Roles: ['RegionPeer'], PeerRegion: us });
    const combined = await refusal(adminWest.call('CreatePrincipal', { UserName: 'peer-and-user', Roles: ['RegionPeer', 'CryptoUser'] }));
    expect(combined).toMatchObject({ name: 'ValidationException', message: expect.stringMatching(/RegionPeer is held alone/) });
    expect(await stateIn(kmsWest, key.KeyId!)).toBe('Enabled');
  });

  it("a RegionPeer acts only for keys whose primary is in the region it is bound to: another region's peer cannot plant, fill, update or remove them", async () => {
    const replicated = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: replicated.KeyId, ReplicaRegion: eu }));
    await replicaReady(replicated.KeyId!);
    const southPeer = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: await principalOf('peer-of-ap-south-1', ['RegionPeer'], 'ap-south-1') });
    const target = keyId();
    const claimingUs: Array<[string, Record<string, unknown>]> = [
      ['PrepareReplica', { KeyId: target, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replica }],
      ['ImportReplica', { Origin: 'EXTERNAL', KeyId: target, KeySpec: 'SYMMETRIC_DEFAULT', CurrentKeyMaterialId: 'ab'.repeat(32), ...replica }],
      ['PrepareReplica', { KeyId: replicated.KeyId, KeySpec: 'SYMMETRIC_DEFAULT', Existing: true }],
      ['SyncMultiRegionKey', { KeyId: replicated.KeyId, PrimaryRegion: us, Regions: [us, eu], RotationEnabled: false }],
      // Claiming its own region for a key whose primary is recorded in us-east-1 changes nothing either.
      ['SyncMultiRegionKey', { KeyId: replicated.KeyId, PrimaryRegion: 'ap-south-1', Regions: [us, eu, 'ap-south-1'], RotationEnabled: false }],
      ['AbandonReplica', { KeyId: replicated.KeyId, PrimaryRegion: us }],
    ];
    for (const [operation, input] of claimingUs) {
      const refused = await refusal(southPeer.call(operation, input));
      expect(refused, operation).toMatchObject({ name: 'AccessDeniedException' });
      expect(refused.message, operation).toContain('the peer principal of ap-south-1 may not act for a key whose primary is in us-east-1');
    }
    expect(await stateIn(kmsWest, target)).toBe('NotFoundException');
    expect((await kmsWest.send(new DescribeKeyCommand({ KeyId: replicated.KeyId }))).KeyMetadata).toMatchObject({
      KeyState: 'Enabled',
      MultiRegionConfiguration: { PrimaryKey: { Region: us } },
    });
    // For its own region it may (nothing of that primary here to remove).
    expect(await southPeer.call('AbandonReplica', { KeyId: target, PrimaryRegion: 'ap-south-1' })).toMatchObject({ Removed: false });
    // A RegionPeer bound to no region, and the account root, make no call between regions.
    const unbound = new HsmKmsClient({ endpoint: west.endpoint, region: eu, credentials: await principalOf('peer-of-nowhere', ['RegionPeer']) });
    const refusedUnbound = await refusal(unbound.call('AbandonReplica', { KeyId: target, PrimaryRegion: us }));
    expect(refusedUnbound.message).toContain('hsmkms principal tag peer-of-nowhere --tag hsmkms:PeerRegion=REGION');
    const refusedRoot = await refusal(adminWest.call('PrepareReplica', { KeyId: target, KeySpec: 'SYMMETRIC_DEFAULT', Replica: replica }));
    expect(refusedRoot).toMatchObject({ name: 'AccessDeniedException', message: expect.stringContaining('never with the account root') });
    expect(await stateIn(kmsWest, target)).toBe('NotFoundException');
  });

  it('hsmkms region add refuses the root credentials of the peer, and a RegionPeer bound to no region', async () => {
    const add = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      promisify(execFile)(process.execPath, [HSMKMS_BIN, 'region', 'add', eu, '--endpoint', west.endpoint, '--data-dir', dataDir(us)], {
        env: { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
      }).then(
        () => '',
        (error: { stderr: string }) => error.stderr,
      );
    const root = rootOf(eu);
    const failed = await add({ accessKeyId: root.accessKeyId, secretAccessKey: root.secretAccessKey });
    expect(failed).toContain(`These are the root credentials of region ${eu}'s deployment`);
    expect(failed).toContain('hsmkms principal create replicator-THIS-REGION --role RegionPeer --tag hsmkms:PeerRegion=THIS-REGION');
    const unbound = await add(await principalOf('unbound-peer', ['RegionPeer']));
    expect(unbound).toContain('is bound to no region');
    expect(unbound).toContain('hsmkms principal tag unbound-peer --tag hsmkms:PeerRegion=THIS-REGION');
    const { stdout } = await hsmkms(['region', 'list', '--data-dir', dataDir(us)]);
    expect(JSON.parse(stdout.trim())).toMatchObject({ region: eu, accessKeyId: peerCredentials.AWS_ACCESS_KEY_ID });
  });

  it('hsmkms region add refuses a peer principal that is not a RegionPeer, naming the command to run there', async () => {
    const user = await principalOf('would-be-peer', ['CryptoUser']);
    const failed = await promisify(execFile)(process.execPath, [HSMKMS_BIN, 'region', 'add', eu, '--endpoint', west.endpoint, '--data-dir', dataDir(us)], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: user.accessKeyId, AWS_SECRET_ACCESS_KEY: user.secretAccessKey },
    }).then(
      () => '',
      (error: { stderr: string }) => error.stderr,
    );
    expect(failed).toContain('replication needs the RegionPeer role there');
    expect(failed).toContain('hsmkms principal set-roles would-be-peer --role RegionPeer');
    const { stdout } = await hsmkms(['region', 'list', '--data-dir', dataDir(us)]);
    expect(JSON.parse(stdout.trim())).toMatchObject({ region: eu, accessKeyId: peerCredentials.AWS_ACCESS_KEY_ID });
  });

  it('a RegionPeer made before hsmkms:PeerRegion existed (bound to no region): replication waits, logging the command that binds it, and goes on once it is run', async () => {
    await adminWest.call('UntagPrincipal', { UserName: 'replicator-us-east-1', TagKeys: ['hsmkms:PeerRegion'] });
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    const command = `hsmkms principal tag replicator-us-east-1 --tag hsmkms:PeerRegion=${us}`;
    try {
      const logged = east.stdout().length;
      expect((await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }))).ReplicaKeyMetadata!.KeyState).toBe('Creating');
      // Retried (the scheduler's first retries are 0.2 s apart here), each attempt logged with the command to run in eu-west-1.
      await expect.poll(() => east.stdout().slice(logged).split(command).length - 1, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);
      expect((await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.MultiRegionConfiguration!.ReplicaKeys).toStrictEqual([
        { Arn: `arn:aws:kms:${eu}:111122223333:key/${key.KeyId}`, Region: eu },
      ]);
      expect(await stateIn(kmsWest, key.KeyId!)).toBe('NotFoundException');
    } finally {
      await hsmkms(['principal', 'tag', 'replicator-us-east-1', '--tag', `hsmkms:PeerRegion=${us}`, '--data-dir', dataDir(eu)]);
    }
    await replicaReady(key.KeyId!);
  });

  it('a peer principal left a CryptoUser (before RegionPeer existed): replication is refused and audited with the command that fixes it', async () => {
    await adminWest.call('UpdatePrincipalRoles', { UserName: 'replicator-us-east-1', Roles: ['CryptoUser'] });
    const key = (await kmsEast.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    try {
      await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu })).catch((error: Error) => expect(error.name).toBe('AccessDeniedException'));
      await expect
        .poll(async () => (await kmsEast.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.MultiRegionConfiguration!.ReplicaKeys, { timeout: 30_000, interval: 100 })
        .toStrictEqual([]);
      const search = async () => {
        const args = ['audit', 'search', '--event-name', 'ReplicateKey', '--key', key.KeyId!, '--error-code', 'AccessDeniedException', '--json', '--data-dir', dataDir(us)];
        return (await hsmkms(args)).stdout.trim().split('\n').filter(Boolean);
      };
      let found: string[] = [];
      await expect.poll(async () => (found = await search()).length, { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
      expect(found.join('\n')).toContain('hsmkms principal set-roles replicator-us-east-1 --role RegionPeer');
      expect(await stateIn(kmsWest, key.KeyId!)).toBe('NotFoundException');
    } finally {
      await adminWest.call('UpdatePrincipalRoles', { UserName: 'replicator-us-east-1', Roles: ['RegionPeer'] });
    }
    // Once the operator has run it, replication works again (and the replicas the principal made stay its own).
    await kmsEast.send(new ReplicateKeyCommand({ KeyId: key.KeyId, ReplicaRegion: eu }));
    await replicaReady(key.KeyId!);
  });
});
