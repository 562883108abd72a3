import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsError } from '../../../src/core/errors.js';
import { materialId } from '../../../src/core/key-metadata.js';
import { createKey } from '../../../src/core/operations/create-key.js';
import { createTestKms, TEST_SETTINGS, type TestKms } from '../../support/kms-deps.js';
import { call, expectNoWrite } from './management-support.js';

let kms: TestKms;
beforeEach(async () => {
  kms = await createTestKms();
});
afterEach(async () => {
  await kms.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('CreateKey', () => {
  it('creates a symmetric key with AWS defaults and usable material', async () => {
    const now = kms.clock.now();
    const out = await call(kms, createKey, {});
    const md = out.KeyMetadata as Record<string, unknown>;
    const keyId = md.KeyId as string;
    expect(keyId).toMatch(UUID);
    expect(md).toEqual({
      AWSAccountId: TEST_SETTINGS.accountId,
      KeyId: keyId,
      Arn: `arn:aws:kms:us-east-1:111122223333:key/${keyId}`,
      CreationDate: now.getTime() / 1000,
      Enabled: true,
      Description: '',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: 'Enabled',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      MultiRegion: false,
      CurrentKeyMaterialId: expect.stringMatching(/^[0-9a-f]{64}$/),
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    });

    const versions = await kms.store.listKeyVersions(keyId);
    expect(versions).toHaveLength(1);
    const version = versions[0]!;
    expect(version.versionId).toBe(md.CurrentKeyMaterialId);
    expect(version.rotationType).toBeUndefined();
    // The stored material is real: the backend encrypts and decrypts with it.
    const ref = { id: materialId(keyId, version.versionId), keySpec: 'SYMMETRIC_DEFAULT' as const, wrapped: version.wrappedMaterial };
    const aad = Buffer.from('aad');
    const sealed = await kms.backend.encryptSymmetric(ref, Buffer.from('hello'), aad);
    expect((await kms.backend.decryptSymmetric(ref, sealed.iv, sealed.ciphertext, aad)).toString()).toBe('hello');

    const stored = await kms.store.getKey(keyId);
    expect(JSON.parse(stored!.policy)).toEqual({
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [
        {
          Sid: 'Enable IAM User Permissions',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111122223333:root' },
          Action: 'kms:*',
          Resource: '*',
        },
      ],
    });
  });

  it.each([
    ['RSA_2048', 'SIGN_VERIFY', { SigningAlgorithms: expect.arrayContaining(['RSASSA_PSS_SHA_256']) }],
    ['RSA_3072', 'ENCRYPT_DECRYPT', { EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] }],
    ['ECC_NIST_P256', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_256'] }],
    ['HMAC_256', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_256'] }],
  ])('creates a %s key (KeyUsage %s)', async (spec, usage, algorithms) => {
    const out = await call(kms, createKey, { KeySpec: spec, KeyUsage: usage });
    const md = out.KeyMetadata as Record<string, unknown>;
    expect(md).toMatchObject({ KeySpec: spec, CustomerMasterKeySpec: spec, KeyState: 'Enabled', ...algorithms });
    expect(md.KeyUsage).toBe(usage);
    // AWS shows CurrentKeyMaterialId for symmetric encryption keys only (AWS KMS's DescribeKey of an HMAC_256 key has none).
    expect(md).not.toHaveProperty('CurrentKeyMaterialId');
    const [version] = await kms.store.listKeyVersions(md.KeyId as string);
    if (spec.startsWith('HMAC')) expect(version!.publicKey).toBeUndefined();
    else expect(Buffer.from(version!.publicKey!).length).toBeGreaterThan(50);
  });

  it('accepts the deprecated CustomerMasterKeySpec', async () => {
    const out = await call(kms, createKey, { CustomerMasterKeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' });
    expect(out.KeyMetadata).toMatchObject({ KeySpec: 'ECC_NIST_P384', SigningAlgorithms: ['ECDSA_SHA_384'] });
  });

  it('stores the description, tags and a custom policy', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:*', Resource: '*' }],
    });
    const out = await call(kms, createKey, {
      Description: 'payments',
      Policy: policy,
      Tags: [
        { TagKey: 'team', TagValue: 'pay' },
        { TagKey: 'env', TagValue: '' },
      ],
    });
    const keyId = (out.KeyMetadata as { KeyId: string }).KeyId;
    expect(out.KeyMetadata).toMatchObject({ Description: 'payments' });
    expect(await kms.store.getTags(keyId)).toEqual([
      { TagKey: 'env', TagValue: '' },
      { TagKey: 'team', TagValue: 'pay' },
    ]);
    expect((await kms.store.getKey(keyId))!.policy).toBe(policy);
  });

  it('creates an EXTERNAL key waiting for its material', async () => {
    const out = await call(kms, createKey, { Origin: 'EXTERNAL' });
    const md = out.KeyMetadata as Record<string, unknown>;
    expect(md).toMatchObject({ Origin: 'EXTERNAL', KeyState: 'PendingImport', Enabled: false });
    expect(md.CurrentKeyMaterialId).toBeUndefined();
    expect(await kms.store.listKeyVersions(md.KeyId as string)).toEqual([]);
  });

  it('calls the authorization hook with kms:CreateKey and writes nothing when it refuses', async () => {
    const seen: string[] = [];
    kms.deps.authorizer = {
      async authorize(requested) {
        for (const request of [requested].flat()) seen.push(`${request.action} ${String(request.context['kms:KeySpec'])}`);
        throw new KmsError('AccessDeniedException', 'denied');
      },
    };
    await expectNoWrite(kms, () => call(kms, createKey, { KeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC' }), 'AccessDeniedException');
    expect(seen).toEqual(['kms:CreateKey HMAC_384']);
  });

  const policyLockingOut = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:user/bob' }, Action: 'kms:*', Resource: '*' }],
  });

  it.each([
    ['an unknown KeySpec', { KeySpec: 'AES_256' }, 'ValidationException', "Value 'AES_256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set"],
    ['an unknown KeyUsage', { KeyUsage: 'WRAP' }, 'ValidationException', "at 'keyUsage'"],
    ['KeySpec with CustomerMasterKeySpec', { KeySpec: 'RSA_2048', CustomerMasterKeySpec: 'RSA_2048' }, 'ValidationException', 'CustomerMasterKeySpec'],
    ['a usage the spec does not allow', { KeyUsage: 'SIGN_VERIFY' }, 'ValidationException', 'not compatible with KeySpec SYMMETRIC_DEFAULT'],
    ['ECC for encryption', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' }, 'ValidationException', 'not compatible'],
    // AWS KMS requires KeyUsage for every KeySpec but SYMMETRIC_DEFAULT (this picked one instead).
    ['an HMAC KeySpec without KeyUsage', { KeySpec: 'HMAC_256' }, 'ValidationException', 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.'],
    ['an RSA KeySpec without KeyUsage', { KeySpec: 'RSA_2048' }, 'ValidationException', 'You must specify a KeyUsage value'],
    ['an ECC CustomerMasterKeySpec without KeyUsage', { CustomerMasterKeySpec: 'ECC_NIST_P256' }, 'ValidationException', 'You must specify a KeyUsage value'],
    ['a description over 8192 characters', { Description: 'd'.repeat(8193) }, 'ValidationException', 'length less than or equal to 8192'],
    ['a non-string description', { Description: 5 }, 'SerializationException', 'Description'],
    ['an aws: tag', { Tags: [{ TagKey: 'aws:owner', TagValue: 'x' }] }, 'TagException', 'reserved'],
    ['an AWS: tag in capitals', { Tags: [{ TagKey: 'AWS:owner', TagValue: 'x' }] }, 'TagException', 'reserved'],
    ['a duplicate tag key', { Tags: [{ TagKey: 'a', TagValue: '1' }, { TagKey: 'a', TagValue: '2' }] }, 'TagException', 'Duplicate'],
    ['51 tags', { Tags: Array.from({ length: 51 }, (_, i) => ({ TagKey: `k${i}`, TagValue: 'v' })) }, 'TagException', 'Too many tags'],
    ['an empty tag key', { Tags: [{ TagKey: '', TagValue: 'v' }] }, 'ValidationException', "at 'tags.1.member.tagKey'"],
    ['a 129-character tag key', { Tags: [{ TagKey: 'k'.repeat(129), TagValue: 'v' }] }, 'ValidationException', 'less than or equal to 128'],
    ['a 257-character tag value', { Tags: [{ TagKey: 'k', TagValue: 'v'.repeat(257) }] }, 'ValidationException', 'less than or equal to 256'],
    ['a tag without a value', { Tags: [{ TagKey: 'k' }] }, 'ValidationException', "'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null"],
    ['a malformed policy', { Policy: '{"Version":"2012-10-17"' }, 'MalformedPolicyDocumentException', 'not valid JSON'],
    ['a policy that locks the caller out', { Policy: policyLockingOut }, 'MalformedPolicyDocumentException', 'will not allow you to update the key policy'],
    ['MultiRegion with imported asymmetric material', { MultiRegion: true, Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }, 'UnsupportedOperationException', 'SYMMETRIC_DEFAULT'],
    ['MultiRegion in a custom key store', { MultiRegion: true, Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0' }, 'UnsupportedOperationException', 'single-Region'],
    ['Origin AWS_CLOUDHSM without a store', { Origin: 'AWS_CLOUDHSM' }, 'ValidationException', 'needs the CustomKeyStoreId'],
    ['Origin EXTERNAL_KEY_STORE without a store', { Origin: 'EXTERNAL_KEY_STORE' }, 'ValidationException', 'needs the CustomKeyStoreId'],
    ['a CustomKeyStoreId with Origin AWS_KMS', { CustomKeyStoreId: 'cks-1234567890abcdef0' }, 'ValidationException', 'CustomKeyStoreId needs Origin'],
    ['an XksKeyId with Origin AWS_KMS', { XksKeyId: 'ext-key' }, 'ValidationException', 'XksKeyId is valid only'],
    ['an unknown custom key store', { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0' }, 'CustomKeyStoreNotFoundException', 'cks-1234567890abcdef0'],
    ['an RSA key in a custom key store', { Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }, 'UnsupportedOperationException', 'symmetric encryption keys only'],
    ['EXTERNAL asymmetric material', { Origin: 'EXTERNAL', KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }, 'UnsupportedOperationException', 'SYMMETRIC_DEFAULT'],
  ] as const)('rejects %s and writes nothing', async (_name, input, type, message) => {
    await expectNoWrite(kms, () => call(kms, createKey, input), type, message);
    expect(await kms.store.countKeys()).toBe(0);
  });

  it('MultiRegion: an mrk- key, its own primary, with its material also wrapped for transfer', async () => {
    const out = await call(kms, createKey, { MultiRegion: true, KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' });
    const meta = out.KeyMetadata as { KeyId: string; Arn: string; MultiRegion: boolean; MultiRegionConfiguration: unknown; CurrentKeyMaterialId?: string };
    expect(meta.KeyId).toMatch(/^mrk-[0-9a-f]{32}$/);
    expect(meta.MultiRegion).toBe(true);
    expect(meta.MultiRegionConfiguration).toStrictEqual({ MultiRegionKeyType: 'PRIMARY', PrimaryKey: { Arn: meta.Arn, Region: 'us-east-1' }, ReplicaKeys: [] });
    expect(await kms.store.multiRegion.getMultiRegionKey(meta.KeyId)).toMatchObject({ primaryRegion: 'us-east-1', regions: [{ region: 'us-east-1', state: 'Active' }] });
    const [transfer] = await kms.store.multiRegion.listTransferMaterial(meta.KeyId);
    expect(transfer!.versionId).toBe((await kms.store.getKey(meta.KeyId))!.currentVersionId);
    expect(meta.CurrentKeyMaterialId).toBeUndefined();
  });

  it('MultiRegion with Origin EXTERNAL: an mrk- primary waiting for its material, with nothing to transfer', async () => {
    const out = await call(kms, createKey, { MultiRegion: true, Origin: 'EXTERNAL' });
    const meta = out.KeyMetadata as { KeyId: string; KeyState: string; Origin: string; MultiRegionConfiguration: { MultiRegionKeyType: string } };
    expect(meta).toMatchObject({ KeyId: expect.stringMatching(/^mrk-/), KeyState: 'PendingImport', Origin: 'EXTERNAL', MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY' } });
    expect(await kms.store.multiRegion.getMultiRegionKey(meta.KeyId)).toMatchObject({ primaryRegion: 'us-east-1' });
    expect(await kms.store.multiRegion.listTransferMaterial(meta.KeyId)).toStrictEqual([]);
  });

  it('accepts a policy that locks the caller out when BypassPolicyLockoutSafetyCheck is set', async () => {
    const out = await call(kms, createKey, { Policy: policyLockingOut, BypassPolicyLockoutSafetyCheck: true });
    expect((await kms.store.getKey((out.KeyMetadata as { KeyId: string }).KeyId))!.policy).toBe(policyLockingOut);
  });
});
