/**
 * The real AWS SDK for JavaScript v3 against the built service on a real SoftHSM2 token:
 * nothing in the client is changed but the endpoint and the credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  createVerify,
  publicEncrypt,
  sign as cryptoSign,
  verify as cryptoVerify,
  randomBytes,
} from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
  DescribeKeyCommand,
  CreateAliasCommand,
  ListKeysCommand,
  SignCommand,
  VerifyCommand,
  GetPublicKeyCommand,
  GenerateMacCommand,
  VerifyMacCommand,
  RotateKeyOnDemandCommand,
  ListKeyRotationsCommand,
  ReEncryptCommand,
  DisableKeyCommand,
  ScheduleKeyDeletionCommand,
  GenerateRandomCommand,
  GenerateDataKeyPairCommand,
  GetKeyPolicyCommand,
  PutKeyPolicyCommand,
} from '@aws-sdk/client-kms';
import { startServer, type RunningServer } from '../support/server.js';
import { sdkFailure } from '../support/errors.js';
import { principalClient } from '../support/sdk-server.js';

let server: RunningServer;
let kms: KMSClient;

beforeAll(async () => {
  server = await startServer();
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  kms?.destroy();
  await server?.close();
});

describe('symmetric keys through @aws-sdk/client-kms', () => {
  it('encrypts and decrypts with an encryption context, and refuses a different context', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'sdk test' }));
    expect(KeyMetadata?.KeySpec).toBe('SYMMETRIC_DEFAULT');
    expect(KeyMetadata?.Arn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36}$/);
    const plaintext = Buffer.from('attack at dawn');
    const context = { purpose: 'test', tenant: 'a' };
    const enc = await kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId, Plaintext: plaintext, EncryptionContext: context }));
    expect(enc.KeyId).toBe(KeyMetadata!.Arn);
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { tenant: 'a', purpose: 'test' } }));
    expect(Buffer.from(dec.Plaintext!).equals(plaintext)).toBe(true);
    expect(dec.KeyId).toBe(KeyMetadata!.Arn);
    await expect(
      kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'test', tenant: 'b' } })),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    expect(server.logs()).not.toContain(plaintext.toString('base64'));
  });

  it('generates data keys whose ciphertext decrypts to the same plaintext', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/sdk-data-keys', TargetKeyId: KeyMetadata!.KeyId }));
    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/sdk-data-keys', KeySpec: 'AES_256' }));
    expect(dk.Plaintext).toHaveLength(32);
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }));
    expect(Buffer.from(dec.Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);
    const described = await kms.send(new DescribeKeyCommand({ KeyId: 'alias/sdk-data-keys' }));
    expect(described.KeyMetadata?.KeyId).toBe(KeyMetadata!.KeyId);
  });

  it('keeps old ciphertexts decrypting after on-demand rotation, and re-encrypts them', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    const before = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('v1') }));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    expect(rotations.Rotations?.[0]?.RotationType).toBe('ON_DEMAND');
    const after = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('v2') }));
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))).Plaintext!).toString()).toBe('v1');
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: after.CiphertextBlob }))).Plaintext!).toString()).toBe('v2');
    const other = await kms.send(new CreateKeyCommand({}));
    const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: before.CiphertextBlob, DestinationKeyId: other.KeyMetadata!.KeyId }));
    expect(re.SourceKeyId).toBe(KeyMetadata!.Arn);
    expect(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob }))).Plaintext!).toString()).toBe('v1');
  });

  it('refuses a disabled key and a key pending deletion with the AWS exceptions', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    await kms.send(new DisableKeyCommand({ KeyId: KeyMetadata!.KeyId }));
    await expect(kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'DisabledException',
    });
    const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: KeyMetadata!.KeyId, PendingWindowInDays: 7 }));
    expect(scheduled.KeyState).toBe('PendingDeletion');
    await expect(kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'KMSInvalidStateException',
    });
  });

  it('answers unknown keys with NotFoundException and lists keys page by page', async () => {
    await expect(kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-0000-0000-000000000000' }))).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    const first = await kms.send(new ListKeysCommand({ Limit: 2 }));
    expect(first.Keys).toHaveLength(2);
    expect(first.Truncated).toBe(true);
    const second = await kms.send(new ListKeysCommand({ Limit: 2, Marker: first.NextMarker }));
    expect(second.Keys?.[0]?.KeyId).not.toBe(first.Keys?.[0]?.KeyId);
  });

  it('returns random bytes', async () => {
    const r = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64 }));
    expect(r.Plaintext).toHaveLength(64);
  });
});

describe('asymmetric and HMAC keys, checked with node:crypto', () => {
  it('signs with RSA-2048 PSS and PKCS#1 v1.5; node:crypto verifies with the public key from GetPublicKey', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }));
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: KeyMetadata!.KeyId }));
    const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const message = Buffer.from('a message to sign');
    const pss = await kms.send(new SignCommand({ KeyId: KeyMetadata!.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }));
    expect(
      cryptoVerify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(pss.Signature!)),
    ).toBe(true);
    const pkcs1 = await kms.send(
      new SignCommand({ KeyId: KeyMetadata!.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }),
    );
    expect(createVerify('sha256').update(message).verify(publicKey, Buffer.from(pkcs1.Signature!))).toBe(true);
    const v = await kms.send(
      new VerifyCommand({ KeyId: KeyMetadata!.KeyId, Message: message, Signature: pss.Signature, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }),
    );
    expect(v.SignatureValid).toBe(true);
    await expect(
      kms.send(new VerifyCommand({ KeyId: KeyMetadata!.KeyId, Message: Buffer.from('other'), Signature: pss.Signature, SigningAlgorithm: 'RSASSA_PSS_SHA_256' })),
    ).rejects.toMatchObject({ name: 'KMSInvalidSignatureException' });
  });

  it('signs with ECDSA P-256 (DER signatures) for RAW and DIGEST messages', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: KeyMetadata!.KeyId }));
    const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    const message = randomBytes(100);
    const raw = await kms.send(new SignCommand({ KeyId: KeyMetadata!.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(cryptoVerify('sha256', message, publicKey, Buffer.from(raw.Signature!))).toBe(true);
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256').update(message).digest();
    const dig = await kms.send(
      new SignCommand({ KeyId: KeyMetadata!.KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }),
    );
    expect(cryptoVerify('sha256', message, publicKey, Buffer.from(dig.Signature!))).toBe(true);
  });

  it('signs with Ed25519 (ECC_NIST_EDWARDS25519): openssl verifies the 64-byte signature with the key from GetPublicKey', async () => {
    const ed25519 = ['ED25519_SHA_512', 'ED25519_PH_SHA_512'];
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }));
    const KeyId = KeyMetadata!.KeyId!;
    expect(KeyMetadata).toMatchObject({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ed25519 });
    expect((await kms.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata).toMatchObject({ KeySpec: 'ECC_NIST_EDWARDS25519', SigningAlgorithms: ed25519 });
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId }));
    expect(pub).toMatchObject({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ed25519 });
    // RFC 8410: SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32-byte key) }, 44 bytes.
    const spki = Buffer.from(pub.PublicKey!);
    expect(spki.subarray(0, 12).toString('hex')).toBe('302a300506032b6570032100');
    expect(spki).toHaveLength(44);

    const message = randomBytes(300);
    const signed = await kms.send(new SignCommand({ KeyId, Message: message, SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'RAW' }));
    expect(signed.SigningAlgorithm).toBe('ED25519_SHA_512');
    const signature = Buffer.from(signed.Signature!);
    expect(signature).toHaveLength(64);
    expect(cryptoVerify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'hsmkms-ed25519-'));
    try {
      writeFileSync(join(dir, 'pub.der'), spki);
      writeFileSync(join(dir, 'msg'), message);
      writeFileSync(join(dir, 'sig'), signature);
      const text = execFileSync('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', join(dir, 'pub.der'), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toMatch(/ED25519 Public-Key/);
      const verified = execFileSync(
        'openssl',
        ['pkeyutl', '-verify', '-pubin', '-keyform', 'DER', '-inkey', join(dir, 'pub.der'), '-rawin', '-in', join(dir, 'msg'), '-sigfile', join(dir, 'sig')],
        { encoding: 'utf8' },
      );
      expect(verified).toMatch(/Signature Verified Successfully/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The message type is optional: RAW by default, as for every algorithm.
    const byDefault = await kms.send(new SignCommand({ KeyId, Message: message, SigningAlgorithm: 'ED25519_SHA_512' }));
    expect(Buffer.from(byDefault.Signature!)).toEqual(signature); // EdDSA is deterministic

    const v = await kms.send(new VerifyCommand({ KeyId, Message: message, Signature: signature, SigningAlgorithm: 'ED25519_SHA_512' }));
    expect(v).toMatchObject({ SignatureValid: true, SigningAlgorithm: 'ED25519_SHA_512' });
    await expect(
      kms.send(new VerifyCommand({ KeyId, Message: Buffer.from('another message'), Signature: signature, SigningAlgorithm: 'ED25519_SHA_512' })),
    ).rejects.toMatchObject({ name: 'KMSInvalidSignatureException' });
  });

  it('refuses the other message type, a digest of the wrong length and other algorithms for an Ed25519 key, as AWS does', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }));
    const KeyId = KeyMetadata!.KeyId!;
    const digest = createHash('sha512').update('a message').digest();
    // ED25519_SHA_512 takes MessageType RAW only, ED25519_PH_SHA_512 DIGEST only: "not interchangeable".
    const rawOnly = await sdkFailure(kms.send(new SignCommand({ KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_SHA_512' })));
    expect(rawOnly).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(rawOnly.message).toMatch(/^Message type DIGEST is incompatible with signing algorithm ED25519_SHA_512; it requires MessageType RAW/);
    const digestOnly = await sdkFailure(kms.send(new SignCommand({ KeyId, Message: digest, MessageType: 'RAW', SigningAlgorithm: 'ED25519_PH_SHA_512' })));
    expect(digestOnly).toMatchObject({ name: 'ValidationException' });
    expect(digestOnly.message).toMatch(/^Message type RAW is incompatible/);
    await expect(
      kms.send(new VerifyCommand({ KeyId, Message: digest, Signature: randomBytes(64), MessageType: 'RAW', SigningAlgorithm: 'ED25519_PH_SHA_512' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    // A DIGEST for Ed25519ph is one SHA-512 digest: 64 bytes.
    const short = await sdkFailure(kms.send(new SignCommand({ KeyId, Message: digest.subarray(0, 32), MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512' })));
    expect(short).toMatchObject({ name: 'ValidationException', message: 'Digest is invalid length for algorithm ED25519_PH_SHA_512.' });
    await expect(kms.send(new SignCommand({ KeyId, Message: digest, SigningAlgorithm: 'ECDSA_SHA_512' }))).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    // SoftHSM2 ignores CKM_EDDSA's phFlag (the backend's probe finds out): Ed25519ph is refused, naming why.
    const ph = await sdkFailure(kms.send(new SignCommand({ KeyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512' })));
    expect(ph).toMatchObject({ name: 'UnsupportedOperationException' });
    expect(ph.message).toMatch(/does not sign with Ed25519ph \(CKM_EDDSA with CK_EDDSA_PARAMS phFlag\).*ED25519_SHA_512 and MessageType RAW/);
    await expect(
      kms.send(new VerifyCommand({ KeyId, Message: digest, Signature: randomBytes(64), MessageType: 'DIGEST', SigningAlgorithm: 'ED25519_PH_SHA_512' })),
    ).rejects.toMatchObject({ name: 'UnsupportedOperationException' });
    // Signing and verification only; and the key never leaves this HSM, so it cannot be multi-Region.
    for (const KeyUsage of ['KEY_AGREEMENT', 'ENCRYPT_DECRYPT'] as const)
      await expect(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage }))).rejects.toMatchObject({ name: 'ValidationException' });
    const multiRegion = await sdkFailure(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY', MultiRegion: true })));
    expect(multiRegion).toMatchObject({ name: 'UnsupportedOperationException' });
    expect(multiRegion.message).toMatch(/cannot be copied to another Region's HSM/);
  });

  it('judges kms:KeySpec, kms:SigningAlgorithm and kms:MessageType of an Ed25519 Sign in the key policy', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }));
    const KeyId = KeyMetadata!.KeyId!;
    const signer = await principalClient(server, `ed-signer-${randomBytes(4).toString('hex')}`);
    try {
      const base = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId, PolicyName: 'default' }))).Policy!) as { Statement: unknown[] };
      const allowWhen = async (condition: Record<string, string>) => {
        const statement = { Sid: 'Signer', Effect: 'Allow', Principal: { AWS: signer.arn }, Action: 'kms:Sign', Resource: '*', Condition: { StringEquals: condition } };
        await kms.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: JSON.stringify({ ...base, Statement: [...base.Statement, statement] }) }));
        if (process.env.HSMKMS_TEST_DEPLOYMENT === 'three-nodes') await new Promise((r) => setTimeout(r, 1100));
        return signer.kms.send(new SignCommand({ KeyId, Message: Buffer.from('m'), MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' })).then(
          () => 'ok',
          (e: Error) => e.name,
        );
      };
      expect(await allowWhen({ 'kms:KeySpec': 'ECC_NIST_EDWARDS25519', 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' })).toBe('ok');
      expect(await allowWhen({ 'kms:SigningAlgorithm': 'ED25519_PH_SHA_512' })).toBe('AccessDeniedException');
      expect(await allowWhen({ 'kms:MessageType': 'DIGEST' })).toBe('AccessDeniedException');
      expect(await allowWhen({ 'kms:KeySpec': 'ECC_NIST_P256' })).toBe('AccessDeniedException');
    } finally {
      signer.kms.destroy();
    }
  });

  it('makes Ed25519 data key pairs (GenerateDataKeyPair): the private key signs what the public key verifies', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const pair = await kms.send(new GenerateDataKeyPairCommand({ KeyId: KeyMetadata!.KeyId, KeyPairSpec: 'ECC_NIST_EDWARDS25519' }));
    expect(pair.KeyPairSpec).toBe('ECC_NIST_EDWARDS25519');
    const privateKey = createPrivateKey({ key: Buffer.from(pair.PrivateKeyPlaintext!), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: Buffer.from(pair.PublicKey!), format: 'der', type: 'spki' });
    expect(publicKey.asymmetricKeyType).toBe('ed25519');
    const message = Buffer.from('data key pair');
    expect(cryptoVerify(null, message, publicKey, cryptoSign(null, message, privateKey))).toBe(true);
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob }));
    expect(Buffer.from(decrypted.Plaintext!)).toEqual(Buffer.from(pair.PrivateKeyPlaintext!));
  });

  it('decrypts RSA-OAEP ciphertexts made by node:crypto with the public key', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_3072', KeyUsage: 'ENCRYPT_DECRYPT' }));
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: KeyMetadata!.KeyId }));
    const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
    const secret = randomBytes(48);
    const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    const dec = await kms.send(
      new DecryptCommand({ KeyId: KeyMetadata!.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
    );
    expect(Buffer.from(dec.Plaintext!).equals(secret)).toBe(true);
  });

  it('generates and verifies HMACs, and rejects a tampered one', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }));
    const message = Buffer.from('mac me');
    const mac = await kms.send(new GenerateMacCommand({ KeyId: KeyMetadata!.KeyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }));
    expect(mac.Mac).toHaveLength(32);
    const ok = await kms.send(new VerifyMacCommand({ KeyId: KeyMetadata!.KeyId, Message: message, Mac: mac.Mac, MacAlgorithm: 'HMAC_SHA_256' }));
    expect(ok.MacValid).toBe(true);
    const bad = Buffer.from(mac.Mac!);
    bad[0] = bad[0]! ^ 1;
    await expect(
      kms.send(new VerifyMacCommand({ KeyId: KeyMetadata!.KeyId, Message: message, Mac: bad, MacAlgorithm: 'HMAC_SHA_256' })),
    ).rejects.toMatchObject({ name: 'KMSInvalidMacException' });
  });
});

describe('authentication', () => {
  it('rejects an unknown access key and a wrong secret with the AWS exceptions', async () => {
    const stranger = new KMSClient({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x'.repeat(40) },
      maxAttempts: 1,
    });
    await expect(stranger.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    stranger.destroy();
    const wrongSecret = new KMSClient({
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: 'y'.repeat(40) },
      maxAttempts: 1,
    });
    await expect(wrongSecret.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    wrongSecret.destroy();
    expect(server.logs()).not.toContain(server.credentials.secretAccessKey);
  });
});
