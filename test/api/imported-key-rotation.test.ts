/**
 * On-demand rotation of symmetric keys with imported key material (AWS KMS since June 2025),
 * through the unmodified AWS SDK against the server on SoftHSM2: ImportKeyMaterial's ImportType,
 * KeyMaterialId and KeyMaterialDescription, material PENDING_ROTATION until RotateKeyOnDemand,
 * ListKeyRotations' IncludeKeyMaterial, DeleteImportedKeyMaterial of one KeyMaterialId.
 */
import { execFile } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CancelKeyDeletionCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  type ImportKeyMaterialCommandInput,
} from '@aws-sdk/client-kms';
import { sdkFailure as failure } from '../support/errors.js';
import { sdkServer } from '../support/sdk-server.js';

const h = sdkServer();

/**
 * Wraps `material` (RSAES_OAEP_SHA_256) for a fresh GetParametersForImport of `KeyId` and imports it
 * with `options`: material that does not expire unless they say otherwise (AWS's default is
 * KEY_MATERIAL_EXPIRES, which wants a ValidTo).
 */
async function importMaterial(KeyId: string, material: Buffer, options: Partial<ImportKeyMaterialCommandInput> = {}) {
  const params = await h.kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const publicKey = createPublicKey({ key: Buffer.from(params.PublicKey!), format: 'der', type: 'spki' });
  const EncryptedKeyMaterial = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  const expiration = options.ExpirationModel || options.ValidTo ? {} : { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const };
  return h.kms.send(new ImportKeyMaterialCommand({ KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial, ...expiration, ...options }));
}

async function externalKey(): Promise<string> {
  return (await h.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
}

async function decrypt(KeyId: string, CiphertextBlob: Uint8Array) {
  const out = await h.kms.send(new DecryptCommand({ KeyId, CiphertextBlob }));
  return { plaintext: Buffer.from(out.Plaintext!).toString(), keyMaterialId: out.KeyMaterialId };
}

async function encrypt(KeyId: string, text: string): Promise<Uint8Array> {
  return (await h.kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from(text) }))).CiphertextBlob!;
}

async function rotations(KeyId: string, IncludeKeyMaterial?: 'ALL_KEY_MATERIAL' | 'ROTATIONS_ONLY') {
  return (await h.kms.send(new ListKeyRotationsCommand({ KeyId, ...(IncludeKeyMaterial ? { IncludeKeyMaterial } : {}) }))).Rotations;
}

/** AWS CLI v1 (botocore 1.43 knows IncludeKeyMaterial); the set-up's CLI v2 (2.9.19) has no list-key-rotations at all. */
const AWS_CLI_V1 = '/root/.pyenv/versions/3.11.7/bin/aws';

describe('ImportKeyMaterial NEW_KEY_MATERIAL, RotateKeyOnDemand, DeleteImportedKeyMaterial KeyMaterialId', () => {
  it('stages new material as PENDING_ROTATION, rotates to it on demand, and keeps every material decrypting', async () => {
    const KeyId = await externalKey();
    const first = randomBytes(32);
    const second = randomBytes(32);

    // First import: ImportType defaults to NEW_KEY_MATERIAL.
    const a = await importMaterial(KeyId, first, { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', KeyMaterialDescription: 'first material' });
    expect(a.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    const ctA = await encrypt(KeyId, 'under the first');
    expect(await failure(h.kms.send(new RotateKeyOnDemandCommand({ KeyId })))).toMatchObject({
      name: 'UnsupportedOperationException',
      message: expect.stringContaining('no key material in PENDING_ROTATION state'),
    });

    const validTo = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 24 * 3600 * 1000);
    const b = await importMaterial(KeyId, second, {
      ImportType: 'NEW_KEY_MATERIAL',
      KeyMaterialDescription: 'second material',
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: validTo,
    });
    expect(b.KeyMaterialId).toMatch(/^[0-9a-f]{64}$/);
    expect(b.KeyMaterialId).not.toBe(a.KeyMaterialId);
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'Enabled', CurrentKeyMaterialId: a.KeyMaterialId });
    expect(await rotations(KeyId, 'ALL_KEY_MATERIAL')).toEqual([
      { KeyId, KeyMaterialId: a.KeyMaterialId, KeyMaterialDescription: 'first material', ImportState: 'IMPORTED', KeyMaterialState: 'CURRENT', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
      { KeyId, KeyMaterialId: b.KeyMaterialId, KeyMaterialDescription: 'second material', ImportState: 'IMPORTED', KeyMaterialState: 'PENDING_ROTATION', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo },
    ]);
    expect(await rotations(KeyId)).toEqual([]);
    // Still encrypting under the current material until the rotation.
    expect((await decrypt(KeyId, await encrypt(KeyId, 'x'))).keyMaterialId).toBe(a.KeyMaterialId);

    await h.kms.send(new RotateKeyOnDemandCommand({ KeyId }));
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'Enabled', CurrentKeyMaterialId: b.KeyMaterialId });
    const all = await rotations(KeyId, 'ALL_KEY_MATERIAL');
    expect(all).toEqual([
      { KeyId, KeyMaterialId: a.KeyMaterialId, KeyMaterialDescription: 'first material', ImportState: 'IMPORTED', KeyMaterialState: 'NON_CURRENT', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
      {
        KeyId,
        KeyMaterialId: b.KeyMaterialId,
        KeyMaterialDescription: 'second material',
        ImportState: 'IMPORTED',
        KeyMaterialState: 'CURRENT',
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        ValidTo: validTo,
        RotationDate: expect.any(Date),
        RotationType: 'ON_DEMAND',
      },
    ]);
    expect(await rotations(KeyId, 'ROTATIONS_ONLY')).toEqual([all![1]]);

    const ctB = await encrypt(KeyId, 'under the second');
    expect(await decrypt(KeyId, ctB)).toEqual({ plaintext: 'under the second', keyMaterialId: b.KeyMaterialId });
    expect(await decrypt(KeyId, ctA)).toEqual({ plaintext: 'under the first', keyMaterialId: a.KeyMaterialId });

    // Deleting a permanently associated (here non-current) material: AWS makes the key PendingImport.
    expect(await h.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: a.KeyMaterialId }))).toMatchObject({
      KeyId: expect.stringContaining(KeyId),
      KeyMaterialId: a.KeyMaterialId,
    });
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'PendingImport', CurrentKeyMaterialId: b.KeyMaterialId });
    expect((await rotations(KeyId, 'ALL_KEY_MATERIAL'))![0]).toEqual({
      KeyId,
      KeyMaterialId: a.KeyMaterialId,
      KeyMaterialDescription: 'first material',
      ImportState: 'PENDING_IMPORT',
      KeyMaterialState: 'NON_CURRENT',
    });
    for (const ct of [ctA, ctB]) expect(await failure(decrypt(KeyId, ct))).toMatchObject({ name: 'KMSInvalidStateException', message: expect.stringContaining('pending import') });

    // Reimporting it (by its id; the description is kept) makes the key usable again.
    expect(await importMaterial(KeyId, first, { ImportType: 'EXISTING_KEY_MATERIAL', KeyMaterialId: a.KeyMaterialId })).toMatchObject({ KeyMaterialId: a.KeyMaterialId });
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'Enabled', CurrentKeyMaterialId: b.KeyMaterialId });
    expect((await rotations(KeyId, 'ALL_KEY_MATERIAL'))![0]).toMatchObject({ KeyMaterialDescription: 'first material', ImportState: 'IMPORTED' });
    expect((await decrypt(KeyId, ctA)).plaintext).toBe('under the first');
    expect((await decrypt(KeyId, ctB)).plaintext).toBe('under the second');

    // Omitted ImportType after the first import means EXISTING_KEY_MATERIAL: the current material reimports.
    expect(await importMaterial(KeyId, second)).toMatchObject({ KeyMaterialId: b.KeyMaterialId });
  });

  it("DescribeKey's ExpirationModel and ValidTo are those of the permanently associated material: expiring material pending rotation does not count until the rotation", async () => {
    const KeyId = await externalKey();
    await importMaterial(KeyId, randomBytes(32), { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    const validTo = new Date(Math.floor(Date.now() / 1000) * 1000 + 7 * 24 * 3600 * 1000);
    const staged = await importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo });
    // AWS (KeyMetadata.ValidTo): "the earliest time at which any imported key material permanently associated with this KMS key expires".
    const before = (await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!;
    expect(before.ExpirationModel).toBe('KEY_MATERIAL_DOES_NOT_EXPIRE');
    expect(before.ValidTo).toBeUndefined();
    await h.kms.send(new RotateKeyOnDemandCommand({ KeyId }));
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({
      CurrentKeyMaterialId: staged.KeyMaterialId,
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: validTo,
    });
  });

  it('DeleteImportedKeyMaterial on a key pending deletion deletes the material and leaves the key pending deletion; CancelKeyDeletion then makes it PendingImport', async () => {
    const KeyId = await externalKey();
    const material = randomBytes(32);
    const first = await importMaterial(KeyId, material);
    const ct = await encrypt(KeyId, 'before');
    await h.kms.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }));
    // AWS: "When the specified KMS key is in the PendingDeletion state, this operation does not change the KMS key's state."
    expect(await h.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId }))).toMatchObject({ KeyMaterialId: first.KeyMaterialId });
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'PendingDeletion' });
    expect((await rotations(KeyId, 'ALL_KEY_MATERIAL'))!.map((r) => r.ImportState)).toEqual(['PENDING_IMPORT']);
    // The material is gone: cancelling the deletion leaves nothing to enable until it is imported again.
    await h.kms.send(new CancelKeyDeletionCommand({ KeyId }));
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'PendingImport' });
    await importMaterial(KeyId, material);
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'Enabled' });
    expect((await decrypt(KeyId, ct)).plaintext).toBe('before');
  });

  it('forgets material pending rotation when it is deleted, without touching the key state', async () => {
    const KeyId = await externalKey();
    const first = await importMaterial(KeyId, randomBytes(32));
    const staged = await importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
    await h.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: staged.KeyMaterialId }));
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'Enabled', CurrentKeyMaterialId: first.KeyMaterialId });
    expect((await rotations(KeyId, 'ALL_KEY_MATERIAL'))!.map((r) => r.KeyMaterialId)).toEqual([first.KeyMaterialId]);
    // Different material may take its place.
    const other = await importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
    expect((await rotations(KeyId, 'ALL_KEY_MATERIAL'))!.map((r) => [r.KeyMaterialId, r.KeyMaterialState])).toEqual([
      [first.KeyMaterialId, 'CURRENT'],
      [other.KeyMaterialId, 'PENDING_ROTATION'],
    ]);
  });

  it('answers the documented errors with AWS exception names', async () => {
    const KeyId = await externalKey();
    const material = randomBytes(32);
    // EXISTING_KEY_MATERIAL before any material was imported.
    expect(await failure(importMaterial(KeyId, material, { ImportType: 'EXISTING_KEY_MATERIAL' }))).toMatchObject({ name: 'IncorrectKeyMaterialException' });
    const a = await importMaterial(KeyId, material);
    // NEW_KEY_MATERIAL that is already associated with the key.
    expect(await failure(importMaterial(KeyId, material, { ImportType: 'NEW_KEY_MATERIAL' }))).toMatchObject({
      name: 'IncorrectKeyMaterialException',
      message: expect.stringContaining('already associated'),
    });
    // A KeyMaterialId with NEW_KEY_MATERIAL.
    expect(await failure(importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialId: a.KeyMaterialId }))).toMatchObject({
      name: 'ValidationException',
    });
    // Other material than the KeyMaterialId named, or an id the key does not have.
    expect(await failure(importMaterial(KeyId, randomBytes(32), { KeyMaterialId: a.KeyMaterialId }))).toMatchObject({ name: 'IncorrectKeyMaterialException' });
    expect(await failure(importMaterial(KeyId, material, { KeyMaterialId: 'ab'.repeat(32) }))).toMatchObject({ name: 'IncorrectKeyMaterialException' });
    expect(await failure(importMaterial(KeyId, material, { KeyMaterialId: 'not-hex' }))).toMatchObject({ name: 'ValidationException', message: expect.stringContaining("at 'keyMaterialId'") });
    expect(await failure(importMaterial(KeyId, material, { KeyMaterialDescription: 'no;semicolons' }))).toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'keyMaterialDescription'"),
    });
    // A second NEW material while one waits for rotation.
    await importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
    expect(await failure(importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' }))).toMatchObject({
      name: 'KMSInvalidStateException',
      message: expect.stringContaining('PENDING_ROTATION'),
    });
    // DeleteImportedKeyMaterial of an id the key does not have.
    expect(await failure(h.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId, KeyMaterialId: 'cd'.repeat(32) })))).toMatchObject({ name: 'NotFoundException' });
    // Automatic rotation stays refused for imported keys, as in AWS.
    expect(await failure(h.kms.send(new EnableKeyRotationCommand({ KeyId })))).toMatchObject({ name: 'UnsupportedOperationException' });
  });

  it.skipIf(!existsSync(AWS_CLI_V1))('is parsed by the AWS CLI: list-key-rotations --include-key-material ALL_KEY_MATERIAL', async () => {
    const KeyId = await externalKey();
    const a = await importMaterial(KeyId, randomBytes(32), { KeyMaterialDescription: 'cli first' });
    const b = await importMaterial(KeyId, randomBytes(32), { ImportType: 'NEW_KEY_MATERIAL' });
    const { credentials, endpoint, region } = h.server;
    const { stdout } = await promisify(execFile)(
      AWS_CLI_V1,
      ['kms', 'list-key-rotations', '--key-id', KeyId, '--include-key-material', 'ALL_KEY_MATERIAL', '--endpoint-url', endpoint, '--region', region, '--output', 'json'],
      {
        env: { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      },
    );
    expect(JSON.parse(stdout).Rotations).toEqual([
      { KeyId, KeyMaterialId: a.KeyMaterialId, KeyMaterialDescription: 'cli first', ImportState: 'IMPORTED', KeyMaterialState: 'CURRENT', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
      { KeyId, KeyMaterialId: b.KeyMaterialId, ImportState: 'IMPORTED', KeyMaterialState: 'PENDING_ROTATION', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ]);
  });
});
