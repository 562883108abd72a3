/**
 * AWS KMS wire conformance: answers that differed from AWS KMS's, each checked through the
 * unmodified AWS SDK v3 (the exception class it raises and the fields it reads) and, where the
 * Debian AWS CLI v2 has the command, through /usr/bin/aws. The AWS behaviour each test names is
 * the AWS API reference's or what AWS KMS itself answers (recorded responses), cited per test.
 */
import { execFile } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListAliasesCommand,
  ListGrantsCommand,
  ListKeyPoliciesCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  RevokeGrantCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateKeyDescriptionCommand,
  VerifyMacCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { sdkFailure as failure } from '../support/errors.js';
import { principalClient, sdkServer } from '../support/sdk-server.js';

const h = sdkServer();

/** /usr/bin/aws against the server; resolves to what it printed on stderr when it fails. */
async function awsCliError(args: string[]): Promise<string> {
  const { credentials, endpoint, region } = h.server;
  try {
    await promisify(execFile)('/usr/bin/aws', [...args, '--endpoint-url', endpoint, '--region', region, '--output', 'json'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
    });
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error(`aws ${args.join(' ')} succeeded`);
}

/** 32 random bytes of key material wrapped with RSAES_OAEP_SHA_256 under GetParametersForImport's public key. */
function wrapped(publicKey: Uint8Array): Buffer {
  const key = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
}

async function symmetricKey(): Promise<string> {
  return (await h.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
}

describe('CreateAlias, DeleteAlias: a name without the alias/ prefix', () => {
  // AWS KMS answers CreateAlias {AliasName: "app"} with ValidationException 'Alias must start with
  // the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html'.
  it('is ValidationException with AWS message, for the SDK and the AWS CLI', async () => {
    const keyId = await symmetricKey();
    const created = await failure(h.kms.send(new CreateAliasCommand({ AliasName: 'app', TargetKeyId: keyId })));
    expect(created).toEqual({
      name: 'ValidationException',
      message: 'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
      status: 400,
    });
    expect((await failure(h.kms.send(new DeleteAliasCommand({ AliasName: 'app' })))).name).toBe('ValidationException');
    expect(await awsCliError(['kms', 'create-alias', '--alias-name', 'app', '--target-key-id', keyId])).toContain(
      'An error occurred (ValidationException) when calling the CreateAlias operation: Alias must start with the prefix "alias/".',
    );
  });
});

describe('CreateKey: KeyUsage', () => {
  // AWS API reference, CreateKey KeyUsage: "This parameter is optional when you are creating a
  // symmetric encryption KMS key; otherwise, it is required." AWS KMS answers {KeySpec: HMAC_256}
  // with ValidationException 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.'
  it('is required for HMAC and asymmetric key specs, and optional for SYMMETRIC_DEFAULT', async () => {
    for (const KeySpec of ['HMAC_256', 'RSA_2048', 'ECC_NIST_P256'] as const)
      expect(await failure(h.kms.send(new CreateKeyCommand({ KeySpec }))), KeySpec).toEqual({
        name: 'ValidationException',
        message: 'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
        status: 400,
      });
    expect(await awsCliError(['kms', 'create-key', '--key-spec', 'HMAC_256'])).toContain('An error occurred (ValidationException) when calling the CreateKey operation: You must specify a KeyUsage value');
    const symmetric = await h.kms.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT' }));
    expect(symmetric.KeyMetadata?.KeyUsage).toBe('ENCRYPT_DECRYPT');
  });
});

describe('Decrypt, ReEncrypt: a KeyId naming another kind of key', () => {
  // AWS KMS answers Decrypt of a symmetric ciphertext with KeyId = an HMAC key, and ReEncrypt
  // with SourceKeyId = an HMAC key, IncorrectKeyException ("The key ID in the request does not
  // identify a CMK that can perform this operation."), not InvalidKeyUsageException.
  it('is IncorrectKeyException', async () => {
    const keyId = await symmetricKey();
    const { CiphertextBlob } = await h.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('secret') }));
    const hmac = (await h.kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
    const signing = (await h.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    for (const other of [hmac, signing]) {
      expect((await failure(h.kms.send(new DecryptCommand({ CiphertextBlob, KeyId: other })))).name).toBe('IncorrectKeyException');
      expect((await failure(h.kms.send(new ReEncryptCommand({ CiphertextBlob, SourceKeyId: other, DestinationKeyId: keyId })))).name).toBe('IncorrectKeyException');
    }
  });
});

describe('Decrypt, ReEncrypt: DryRun with DryRunModifiers IGNORE_CIPHERTEXT', () => {
  // AWS API reference, Decrypt/ReEncrypt: CiphertextBlob "is required in all cases except when
  // DryRun is true and DryRunModifiers is set to IGNORE_CIPHERTEXT"; KeyId (SourceKeyId) is
  // required then. The SDK sends the list; this refused it for the missing CiphertextBlob.
  it('checks the named key and the permission without a ciphertext', async () => {
    const keyId = await symmetricKey();
    const dryRun = { DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT' as const] };
    expect((await failure(h.kms.send(new DecryptCommand({ KeyId: keyId, ...dryRun })))).name).toBe('DryRunOperationException');
    expect((await failure(h.kms.send(new ReEncryptCommand({ SourceKeyId: keyId, DestinationKeyId: keyId, ...dryRun })))).name).toBe('DryRunOperationException');
    // The key is still checked: its id is required, and a disabled key is refused as a real call would be.
    expect(await failure(h.kms.send(new DecryptCommand(dryRun)))).toMatchObject({ name: 'ValidationException', message: expect.stringContaining("at 'keyId'") });
    expect((await failure(h.kms.send(new ReEncryptCommand({ DestinationKeyId: keyId, ...dryRun })))).name).toBe('ValidationException');
    const disabled = await symmetricKey();
    await h.kms.send(new DisableKeyCommand({ KeyId: disabled }));
    expect((await failure(h.kms.send(new DecryptCommand({ KeyId: disabled, ...dryRun })))).name).toBe('DisabledException');
    // Without DryRun the modifier changes nothing: the ciphertext is required.
    expect(await failure(h.kms.send(new DecryptCommand({ KeyId: keyId, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })))).toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'ciphertextBlob'"),
    });
    // A modifier AWS does not define is a ValidationException naming the enum.
    expect(
      await failure(h.kms.send(new DecryptCommand({ KeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_EVERYTHING' as 'IGNORE_CIPHERTEXT'] }))),
    ).toMatchObject({ name: 'ValidationException', message: expect.stringContaining('enum value set: [IGNORE_CIPHERTEXT]') });
  });

  it('is authorised like the real call: a caller without kms:Decrypt on the key is denied, not told it would succeed', async () => {
    const keyId = await symmetricKey();
    const { kms: client } = await principalClient(h.server, 'conformance-stranger');
    try {
      expect((await failure(client.send(new DecryptCommand({ KeyId: keyId, DryRun: true, DryRunModifiers: ['IGNORE_CIPHERTEXT'] })))).name).toBe('AccessDeniedException');
    } finally {
      client.destroy();
    }
  });
});

describe('KeyId: a malformed key id', () => {
  // AWS KMS: DescribeKey {KeyId: "fake-key-id"} and {KeyId: "134f2428cec14b25a1ae9048164dba47"}
  // are NotFoundException "Invalid keyId '…'"; a well-formed unknown id is "Key '<arn>' does not exist".
  it("is NotFoundException \"Invalid keyId '…'\", told apart from an unknown well-formed id", async () => {
    for (const KeyId of ['fake-key-id', '134f2428cec14b25a1ae9048164dba47', 'mrk-fake-key-id'])
      expect(await failure(h.kms.send(new DescribeKeyCommand({ KeyId })))).toEqual({ name: 'NotFoundException', message: `Invalid keyId '${KeyId}'`, status: 400 });
    const unknown = '1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(await failure(h.kms.send(new DescribeKeyCommand({ KeyId: unknown })))).toEqual({
      name: 'NotFoundException',
      message: `Key 'arn:aws:kms:${h.server.region}:111122223333:key/${unknown}' does not exist`,
      status: 400,
    });
  });
});

describe('KeyId: a key ARN of another region', () => {
  // AWS KMS answers DescribeKey {KeyId: <the key's ARN with another region of the account>} with
  // NotFoundException "Invalid arn <that region>" (LocalStack's test_get_key_in_different_region,
  // recorded against AWS); an unknown key of this region stays "Key '<arn>' does not exist".
  it('is NotFoundException "Invalid arn <region>"', async () => {
    const keyId = await symmetricKey();
    const elsewhere = `arn:aws:kms:eu-west-1:111122223333:key/${keyId}`;
    expect(await failure(h.kms.send(new DescribeKeyCommand({ KeyId: elsewhere })))).toEqual({ name: 'NotFoundException', message: 'Invalid arn eu-west-1', status: 400 });
    expect(await awsCliError(['kms', 'describe-key', '--key-id', elsewhere])).toContain('An error occurred (NotFoundException) when calling the DescribeKey operation: Invalid arn eu-west-1');
  });
});

describe('KeyId documented as "key ID or key ARN": an alias', () => {
  // AWS API reference: these operations' KeyId is "the key ID or key ARN of the KMS key" (the SDK
  // model's documentation, node_modules/@aws-sdk/client-kms), where DescribeKey, Encrypt, Sign, …
  // also list "alias name" and "alias ARN". AWS KMS answers an alias there InvalidArnException
  // "Key Aliases are not supported for this operation." (users' aws kms get-key-policy output;
  // Lambda relays the same KMS exception for CreateGrant, hashicorp/terraform#20813). This followed
  // the alias to its key.
  const calls: [string, (kms: KMSClient, keyId: string) => Promise<unknown>][] = [
    ['CancelKeyDeletion', (kms, KeyId) => kms.send(new CancelKeyDeletionCommand({ KeyId }))],
    ['CreateGrant', (kms, KeyId) => kms.send(new CreateGrantCommand({ KeyId, GranteePrincipal: 'arn:aws:iam::111122223333:root', Operations: ['Encrypt'] }))],
    ['DisableKey', (kms, KeyId) => kms.send(new DisableKeyCommand({ KeyId }))],
    ['EnableKey', (kms, KeyId) => kms.send(new EnableKeyCommand({ KeyId }))],
    ['EnableKeyRotation', (kms, KeyId) => kms.send(new EnableKeyRotationCommand({ KeyId }))],
    ['DisableKeyRotation', (kms, KeyId) => kms.send(new DisableKeyRotationCommand({ KeyId }))],
    ['GetKeyPolicy', (kms, KeyId) => kms.send(new GetKeyPolicyCommand({ KeyId }))],
    ['GetKeyRotationStatus', (kms, KeyId) => kms.send(new GetKeyRotationStatusCommand({ KeyId }))],
    ['GetParametersForImport', (kms, KeyId) => kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }))],
    ['ListAliases', (kms, KeyId) => kms.send(new ListAliasesCommand({ KeyId }))],
    ['ListGrants', (kms, KeyId) => kms.send(new ListGrantsCommand({ KeyId }))],
    ['ListKeyPolicies', (kms, KeyId) => kms.send(new ListKeyPoliciesCommand({ KeyId }))],
    ['ListKeyRotations', (kms, KeyId) => kms.send(new ListKeyRotationsCommand({ KeyId }))],
    ['ListResourceTags', (kms, KeyId) => kms.send(new ListResourceTagsCommand({ KeyId }))],
    ['PutKeyPolicy', (kms, KeyId) => kms.send(new PutKeyPolicyCommand({ KeyId, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] }) }))],
    ['RevokeGrant', (kms, KeyId) => kms.send(new RevokeGrantCommand({ KeyId, GrantId: '0'.repeat(64) }))],
    ['RotateKeyOnDemand', (kms, KeyId) => kms.send(new RotateKeyOnDemandCommand({ KeyId }))],
    ['ScheduleKeyDeletion', (kms, KeyId) => kms.send(new ScheduleKeyDeletionCommand({ KeyId }))],
    ['TagResource', (kms, KeyId) => kms.send(new TagResourceCommand({ KeyId, Tags: [{ TagKey: 'k', TagValue: 'v' }] }))],
    ['UntagResource', (kms, KeyId) => kms.send(new UntagResourceCommand({ KeyId, TagKeys: ['k'] }))],
    ['UpdateKeyDescription', (kms, KeyId) => kms.send(new UpdateKeyDescriptionCommand({ KeyId, Description: 'x' }))],
  ];

  it('is InvalidArnException and leaves the key as it was, for the SDK and the AWS CLI', async () => {
    const keyId = await symmetricKey();
    const aliasName = 'alias/conformance-key-id-only';
    await h.kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: keyId }));
    const aliasArn = `arn:aws:kms:${h.server.region}:111122223333:${aliasName}`;
    for (const [operation, send] of calls)
      for (const value of [aliasName, aliasArn])
        expect(await failure(send(h.kms, value)), `${operation} ${value}`).toEqual({
          name: 'InvalidArnException',
          message: 'Key Aliases are not supported for this operation.',
          status: 400,
        });
    const { KeyMetadata } = await h.kms.send(new DescribeKeyCommand({ KeyId: aliasName }));
    expect(KeyMetadata).toMatchObject({ KeyId: keyId, KeyState: 'Enabled', Description: '' });
    expect((await h.kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags).toEqual([]);
    expect(await awsCliError(['kms', 'get-key-policy', '--key-id', aliasName, '--policy-name', 'default'])).toContain(
      'An error occurred (InvalidArnException) when calling the GetKeyPolicy operation: Key Aliases are not supported for this operation.',
    );
    // The key id and key ARN these operations document still name the key.
    expect((await h.kms.send(new GetKeyPolicyCommand({ KeyId: KeyMetadata!.Arn }))).PolicyName).toBe('default');
  });
});

describe('Tags: AWS KMS\'s TagException messages', () => {
  // Recorded AWS KMS answers (LocalStack's test_tag_key_with_duplicate_tag_keys_raises_error,
  // test_create_key_with_too_many_tags_raises_error, test_create_key_with_invalid_tag_key and
  // test_tag_existing_key_with_invalid_tag_key): TagException "Duplicate tag keys", "Too many tags"
  // (CreateKey with 51 tags) and "Tags beginning with aws: are reserved" (aws: or AWS:).
  it('are AWS\'s words, for the SDK and the AWS CLI', async () => {
    const keyId = await symmetricKey();
    const duplicate = [{ TagKey: 'tag1', TagValue: 'value1' }, { TagKey: 'tag1', TagValue: 'another-value1' }];
    expect(await failure(h.kms.send(new TagResourceCommand({ KeyId: keyId, Tags: duplicate })))).toEqual({ name: 'TagException', message: 'Duplicate tag keys', status: 400 });
    const many = Array.from({ length: 51 }, (_, i) => ({ TagKey: `key${i}`, TagValue: `value${i}` }));
    expect(await failure(h.kms.send(new CreateKeyCommand({ Tags: many })))).toEqual({ name: 'TagException', message: 'Too many tags', status: 400 });
    for (const TagKey of ['aws:key1', 'AWS:key1'])
      expect(await failure(h.kms.send(new CreateKeyCommand({ Tags: [{ TagKey, TagValue: 'value1' }] }))), TagKey).toEqual({
        name: 'TagException',
        message: 'Tags beginning with aws: are reserved',
        status: 400,
      });
    expect(await awsCliError(['kms', 'tag-resource', '--key-id', keyId, '--tags', 'TagKey=aws:key1,TagValue=value1'])).toContain(
      'An error occurred (TagException) when calling the TagResource operation: Tags beginning with aws: are reserved',
    );
  });
});

describe('GenerateRandom: NumberOfBytes left out', () => {
  // The model leaves NumberOfBytes optional; AWS KMS answers GenerateRandom {} ValidationException
  // "NumberOfBytes is required." (LocalStack's test_generate_random_invalid_number_of_bytes[None],
  // recorded against AWS).
  it('is ValidationException "NumberOfBytes is required."', async () => {
    expect(await failure(h.kms.send(new GenerateRandomCommand({})))).toEqual({ name: 'ValidationException', message: 'NumberOfBytes is required.', status: 400 });
    expect(await awsCliError(['kms', 'generate-random'])).toContain('An error occurred (ValidationException) when calling the GenerateRandom operation: NumberOfBytes is required.');
  });
});

describe('DescribeKey: CurrentKeyMaterialId of an imported key in PendingImport', () => {
  // Recorded AWS KMS answers (LocalStack's test_import_key_symmetric): DescribeKey of an EXTERNAL
  // symmetric key before any import has no CurrentKeyMaterialId; after ImportKeyMaterial it has one
  // and ExpirationModel; after DeleteImportedKeyMaterial (PendingImport again) it keeps the same
  // CurrentKeyMaterialId and has no ExpirationModel. This left the id out in PendingImport.
  it('is absent before the first import and kept after DeleteImportedKeyMaterial', async () => {
    const { KeyMetadata: created } = await h.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    const KeyId = created!.KeyId!;
    expect(created).not.toHaveProperty('CurrentKeyMaterialId');
    const params = await h.kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
    const imported = await h.kms.send(
      new ImportKeyMaterialCommand({ KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped(params.PublicKey!), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    );
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({
      KeyState: 'Enabled',
      CurrentKeyMaterialId: imported.KeyMaterialId,
      ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    });
    await h.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId }));
    const { KeyMetadata: pending } = await h.kms.send(new DescribeKeyCommand({ KeyId }));
    expect(pending).toMatchObject({ KeyState: 'PendingImport', Enabled: false, CurrentKeyMaterialId: imported.KeyMaterialId });
    expect(pending).not.toHaveProperty('ExpirationModel');
  });
});

describe('Encrypt: RSAES-OAEP plaintext over the limit', () => {
  // Recorded AWS KMS answers (LocalStack's test_encrypt_validate_plaintext_size_per_key_type):
  // ValidationException "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes."
  it('is ValidationException in AWS\'s words', async () => {
    const KeyId = (await h.kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata!.KeyId!;
    for (const [EncryptionAlgorithm, limit] of [['RSAES_OAEP_SHA_1', 214], ['RSAES_OAEP_SHA_256', 190]] as const)
      expect(await failure(h.kms.send(new EncryptCommand({ KeyId, EncryptionAlgorithm, Plaintext: Buffer.alloc(limit + 1) })))).toEqual({
        name: 'ValidationException',
        message: `Algorithm ${EncryptionAlgorithm} and key spec RSA_2048 cannot encrypt data larger than ${limit} bytes.`,
        status: 400,
      });
  });
});

describe('Sign: a DIGEST of the wrong length', () => {
  // Recorded AWS KMS answers (LocalStack's test_sign_verify, bad-digest): ValidationException
  // "Digest is invalid length for algorithm ECDSA_SHA_256."
  it('is ValidationException in AWS\'s words', async () => {
    const KeyId = (await h.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    expect(await failure(h.kms.send(new SignCommand({ KeyId, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'DIGEST', Message: Buffer.alloc(31) })))).toEqual({
      name: 'ValidationException',
      message: 'Digest is invalid length for algorithm ECDSA_SHA_256.',
      status: 400,
    });
  });
});

describe('GenerateMac, VerifyMac: a MAC algorithm the HMAC key\'s spec does not fix', () => {
  // Recorded AWS KMS answers (LocalStack's test_invalid_generate_mac, test_invalid_verify_mac):
  // InvalidKeyUsageException "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224."
  it('is InvalidKeyUsageException in AWS\'s words', async () => {
    const KeyId = (await h.kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_224', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
    const expected = { name: 'InvalidKeyUsageException', message: 'Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.', status: 400 };
    expect(await failure(h.kms.send(new GenerateMacCommand({ KeyId, MacAlgorithm: 'HMAC_SHA_256', Message: Buffer.from('m') })))).toEqual(expected);
    expect(await failure(h.kms.send(new VerifyMacCommand({ KeyId, MacAlgorithm: 'HMAC_SHA_256', Message: Buffer.from('m'), Mac: Buffer.alloc(32) })))).toEqual(expected);
  });
});

describe('ImportKeyMaterial: KEY_MATERIAL_EXPIRES without ValidTo', () => {
  // Recorded AWS KMS answer (LocalStack's test_import_key_symmetric, import-expiring-key-without-valid-to):
  // ValidationException "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".
  // KEY_MATERIAL_EXPIRES is also the default when ExpirationModel is left out (API reference).
  async function importRequest(extra: { ExpirationModel?: 'KEY_MATERIAL_EXPIRES'; ValidTo?: Date }) {
    const KeyId = (await h.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    const params = await h.kms.send(new GetParametersForImportCommand({ KeyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
    return { KeyId, ImportToken: params.ImportToken, EncryptedKeyMaterial: wrapped(params.PublicKey!), ...extra };
  }
  const refusal = { name: 'ValidationException', message: 'A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES', status: 400 };

  it.each([
    ['named', { ExpirationModel: 'KEY_MATERIAL_EXPIRES' as const }],
    ['left out (the default)', {}],
  ])('is ValidationException in AWS\'s words, ExpirationModel %s, and the key stays PendingImport', async (_, extra) => {
    const request = await importRequest(extra);
    expect(await failure(h.kms.send(new ImportKeyMaterialCommand(request)))).toEqual(refusal);
    expect((await h.kms.send(new DescribeKeyCommand({ KeyId: request.KeyId }))).KeyMetadata).toMatchObject({ KeyState: 'PendingImport' });
  });

  it('with ValidTo and no ExpirationModel, imports material that expires at ValidTo', async () => {
    const ValidTo = new Date(Math.ceil(Date.now() / 1000) * 1000 + 86_400_000);
    const request = await importRequest({ ValidTo });
    await h.kms.send(new ImportKeyMaterialCommand(request));
    const metadata = (await h.kms.send(new DescribeKeyCommand({ KeyId: request.KeyId }))).KeyMetadata!;
    expect(metadata).toMatchObject({ KeyState: 'Enabled', ExpirationModel: 'KEY_MATERIAL_EXPIRES' });
    expect(metadata.ValidTo!.getTime()).toBe(ValidTo.getTime());
  });
});

describe('CreateKey: a KeyUsage the KeySpec does not allow', () => {
  // Recorded AWS KMS answer (LocalStack's test_derive_shared_secret, response-invalid-key-spec):
  // CreateKey {KeySpec: RSA_2048, KeyUsage: KEY_AGREEMENT} is ValidationException
  // "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048".
  it('is ValidationException in AWS\'s words, for the SDK and the AWS CLI', async () => {
    expect(await failure(h.kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'KEY_AGREEMENT' })))).toEqual({
      name: 'ValidationException',
      message: 'KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048',
      status: 400,
    });
    expect(await awsCliError(['kms', 'create-key', '--key-spec', 'RSA_2048', '--key-usage', 'KEY_AGREEMENT'])).toContain(
      'An error occurred (ValidationException) when calling the CreateKey operation: KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048',
    );
  });
});

describe('CreateKey, PutKeyPolicy: a key policy over the 32 KB quota', () => {
  // AWS API reference, CreateKey and PutKeyPolicy, Policy: "If the key policy exceeds the length
  // constraint, KMS returns a LimitExceededException." (the key policy quota is 32 KB). This
  // answered MalformedPolicyDocumentException.
  it('is LimitExceededException', async () => {
    const Policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }] }).padEnd(32 * 1024 + 1);
    const KeyId = await symmetricKey();
    expect((await failure(h.kms.send(new PutKeyPolicyCommand({ KeyId, Policy })))).name).toBe('LimitExceededException');
    expect((await failure(h.kms.send(new CreateKeyCommand({ Policy })))).name).toBe('LimitExceededException');
    await h.kms.send(new PutKeyPolicyCommand({ KeyId, Policy: Policy.trimEnd().padEnd(32 * 1024) }));
  });
});
