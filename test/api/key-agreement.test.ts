/**
 * DeriveSharedSecret and KEY_AGREEMENT keys through the real AWS SDK v3: the secret equals what
 * the peer computes with node:crypto from the KMS key's public key, and the key can do nothing else.
 */
import { describe, expect, it } from 'vitest';
import { createPublicKey, diffieHellman, ECDH, generateKeyPairSync } from 'node:crypto';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { principalClient, sdkServer } from '../support/sdk-server.js';

const ctx = sdkServer();

async function agreementKey(KeySpec: 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521') {
  return (await ctx.kms.send(new CreateKeyCommand({ KeySpec, KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!;
}

function peer(namedCurve: string) {
  const pair = generateKeyPairSync('ec', { namedCurve });
  return { privateKey: pair.privateKey, spki: pair.publicKey.export({ format: 'der', type: 'spki' }) };
}

describe('DeriveSharedSecret through @aws-sdk/client-kms', () => {
  it.each([
    ['ECC_NIST_P256', 'prime256v1', 32],
    ['ECC_NIST_P384', 'secp384r1', 48],
  ] as const)('%s: both sides of ECDH agree, and the key says it is for ECDH only', async (spec, curve, bytes) => {
    const key = await agreementKey(spec);
    expect(key.KeyUsage).toBe('KEY_AGREEMENT');
    expect(key.KeyAgreementAlgorithms).toEqual(['ECDH']);
    expect(key.SigningAlgorithms).toBeUndefined();
    expect(key.EncryptionAlgorithms).toBeUndefined();
    const described = (await ctx.kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    expect(described.KeyAgreementAlgorithms).toEqual(['ECDH']);
    const pub = await ctx.kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
    expect(pub.KeyUsage).toBe('KEY_AGREEMENT');
    expect(pub.KeyAgreementAlgorithms).toEqual(['ECDH']);
    expect(pub.SigningAlgorithms).toBeUndefined();
    expect(pub.EncryptionAlgorithms).toBeUndefined();

    const bob = peer(curve);
    const out = await ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: bob.spki }));
    expect(out.KeyId).toBe(key.Arn);
    expect(out.KeyAgreementAlgorithm).toBe('ECDH');
    expect(out.KeyOrigin).toBe('AWS_KMS');
    const expected = diffieHellman({ privateKey: bob.privateKey, publicKey: createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' }) });
    expect(out.SharedSecret).toHaveLength(bytes);
    expect(Buffer.from(out.SharedSecret!).equals(expected)).toBe(true);
    expect(ctx.server.logs()).not.toContain(expected.toString('base64'));

    // Another peer, another secret; a DryRun derives nothing.
    const other = await ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer(curve).spki }));
    expect(Buffer.from(other.SharedSecret!).equals(expected)).toBe(false);
    await expect(
      ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: bob.spki, DryRun: true })),
    ).rejects.toMatchObject({ name: 'DryRunOperationException' });
  });

  it('a KEY_AGREEMENT key cannot sign, verify or encrypt; other keys cannot derive', async () => {
    const key = await agreementKey('ECC_NIST_P256');
    const message = Buffer.from('m');
    await expect(ctx.kms.send(new SignCommand({ KeyId: key.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    await expect(
      ctx.kms.send(new VerifyCommand({ KeyId: key.KeyId, Message: message, Signature: Buffer.alloc(64, 1), SigningAlgorithm: 'ECDSA_SHA_256' })),
    ).rejects.toMatchObject({ name: 'InvalidKeyUsageException' });
    await expect(ctx.kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: message, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).rejects.toMatchObject({
      name: 'InvalidKeyUsageException',
    });
    await expect(
      ctx.kms.send(new DecryptCommand({ KeyId: key.KeyId, CiphertextBlob: Buffer.alloc(256, 1), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })),
    ).rejects.toMatchObject({ name: 'InvalidKeyUsageException' });

    const bob = peer('prime256v1').spki;
    for (const input of [{ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }, {}, { KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }] as const) {
      const other = (await ctx.kms.send(new CreateKeyCommand(input))).KeyMetadata!;
      await expect(ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: other.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: bob }))).rejects.toMatchObject({
        name: 'InvalidKeyUsageException',
      });
    }
    // A disabled key agreement key is refused as any disabled key is.
    await ctx.kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await expect(ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: bob }))).rejects.toMatchObject({
      name: 'DisabledException',
    });
  });

  it('refuses a public key on another curve, one that is not EC, garbage, an unknown algorithm and Recipient', async () => {
    const key = await agreementKey('ECC_NIST_P256');
    const derive = (input: Partial<ConstructorParameters<typeof DeriveSharedSecretCommand>[0]>) =>
      ctx.kms.send(new DeriveSharedSecretCommand({ KeyId: key.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer('prime256v1').spki, ...input }));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    const refusals: Array<[string, Partial<ConstructorParameters<typeof DeriveSharedSecretCommand>[0]>, string]> = [
      ['P-384 peer', { PublicKey: peer('secp384r1').spki }, 'ValidationException'],
      ['secp256k1 peer', { PublicKey: peer('secp256k1').spki }, 'ValidationException'],
      ['RSA peer', { PublicKey: rsa }, 'ValidationException'],
      ['garbage', { PublicKey: Buffer.from('not a public key') }, 'ValidationException'],
      ['empty', { PublicKey: new Uint8Array(0) }, 'ValidationException'],
      ['too long', { PublicKey: Buffer.alloc(8193, 1) }, 'ValidationException'],
      ['algorithm', { KeyAgreementAlgorithm: 'X25519' as 'ECDH' }, 'ValidationException'],
      ['recipient', { Recipient: { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256', AttestationDocument: Buffer.from('doc') } }, 'UnsupportedOperationException'],
    ];
    for (const [what, input, name] of refusals) await expect(derive(input), what).rejects.toMatchObject({ name });
    // The point at infinity (BIT STRING 00): node:crypto's key accessors aborted the whole server on it.
    const infinity = Buffer.from('3019301306072a8648ce3d020106082a8648ce3d03010703020000', 'hex');
    const good = peer('prime256v1').spki;
    const hybrid = Buffer.from(good);
    hybrid[26] = 0x06 | (good[good.length - 1]! & 1);
    const strictness: Array<[string, Buffer]> = [
      ['infinity', infinity],
      ['explicit curve parameters', generateKeyPairSync('ec', { namedCurve: 'prime256v1', paramEncoding: 'explicit' }).publicKey.export({ format: 'der', type: 'spki' })],
      ['bytes after the key', Buffer.concat([good, Buffer.from([0])])],
      ['a non-minimal (BER) length', Buffer.concat([Buffer.from([0x30, 0x81, good[1]!]), good.subarray(2)])],
      ['a hybrid point', hybrid],
    ];
    for (const [what, PublicKey] of strictness) await expect(derive({ PublicKey }), what).rejects.toMatchObject({ name: 'ValidationException' });
    // A point off the curve: a P-256 SPKI whose y was changed.
    const spki = Buffer.from(peer('prime256v1').spki);
    spki.writeUInt8(spki.readUInt8(spki.length - 1) ^ 1, spki.length - 1);
    await expect(derive({ PublicKey: spki })).rejects.toMatchObject({ name: 'ValidationException' });
    // And none of it broke the key (or the server); a compressed point is the same peer.
    expect((await derive({})).SharedSecret).toHaveLength(32);
    const bob = peer('prime256v1');
    const compressed = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      ECDH.convertKey(bob.spki.subarray(bob.spki.length - 65), 'prime256v1', undefined, undefined, 'compressed') as Buffer,
    ]);
    const fromCompressed = await derive({ PublicKey: compressed });
    expect(Buffer.from(fromCompressed.SharedSecret!)).toStrictEqual(Buffer.from((await derive({ PublicKey: bob.spki })).SharedSecret!));
  });

  it('CreateKey offers KEY_AGREEMENT for NIST curves only, single- or multi-Region', async () => {
    for (const KeySpec of ['ECC_SECG_P256K1', 'RSA_2048', 'SYMMETRIC_DEFAULT', 'HMAC_256'] as const) {
      await expect(ctx.kms.send(new CreateKeyCommand({ KeySpec, KeyUsage: 'KEY_AGREEMENT' })), KeySpec).rejects.toMatchObject({ name: 'ValidationException' });
      await expect(ctx.kms.send(new CreateKeyCommand({ KeySpec, KeyUsage: 'KEY_AGREEMENT', MultiRegion: true })), KeySpec).rejects.toMatchObject({ name: 'ValidationException' });
    }
    const mrk = (await ctx.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT', MultiRegion: true }))).KeyMetadata!;
    expect(mrk).toMatchObject({ MultiRegion: true, KeyUsage: 'KEY_AGREEMENT', KeyAgreementAlgorithms: ['ECDH'] });
    expect(mrk.KeyId).toMatch(/^mrk-/);
    const p521 = await agreementKey('ECC_NIST_P521');
    expect(p521.KeyAgreementAlgorithms).toEqual(['ECDH']);
  });

  it('a grant on a KEY_AGREEMENT key may allow DeriveSharedSecret (and the grantee derives), not Sign', async () => {
    const key = await agreementKey('ECC_NIST_P256');
    const { arn, kms: asApp } = await principalClient(ctx.server, 'agreement-app');
    const app = { Arn: arn };
    try {
      const derive = () => asApp.send(new DeriveSharedSecretCommand({ KeyId: key.Arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer('prime256v1').spki }));
      await expect(derive()).rejects.toMatchObject({ name: 'AccessDeniedException' });
      await expect(ctx.kms.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: app.Arn, Operations: ['Sign'] }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
      const { GrantToken } = await ctx.kms.send(new CreateGrantCommand({ KeyId: key.KeyId, GranteePrincipal: app.Arn, Operations: ['DeriveSharedSecret'] }));
      const out = await asApp.send(
        new DeriveSharedSecretCommand({ KeyId: key.Arn, KeyAgreementAlgorithm: 'ECDH', PublicKey: peer('prime256v1').spki, GrantTokens: [GrantToken!] }),
      );
      expect(out.SharedSecret).toHaveLength(32);
    } finally {
      asApp.destroy();
    }
  });
});
