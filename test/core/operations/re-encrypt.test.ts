import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRecord } from '../../../src/core/model.js';
import type { AuthorizationRequest } from '../../../src/core/ports.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { reEncrypt } from '../../../src/core/operations/re-encrypt.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { b64, bytesOf, call, expectKmsError, newKey } from './crypto-fixtures.js';

let kms: TestKms;
let source: KeyRecord;
let destination: KeyRecord;

beforeAll(async () => {
  kms = await createTestKms();
  source = await newKey(kms);
  destination = await newKey(kms);
});
afterAll(() => kms.close());

async function encryptUnder(key: KeyRecord, text: string, context: Record<string, string>): Promise<string> {
  return (await call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64(text), EncryptionContext: context })).CiphertextBlob as string;
}

describe('ReEncrypt', () => {
  it('moves a ciphertext to another key and context', async () => {
    const blob = await encryptUnder(source, 'moving', { from: 'a' });
    const out = await call(kms, reEncrypt, {
      CiphertextBlob: blob,
      SourceEncryptionContext: { from: 'a' },
      DestinationKeyId: destination.arn,
      DestinationEncryptionContext: { to: 'b' },
    });
    expect(out).toEqual({
      CiphertextBlob: expect.any(String),
      SourceKeyId: source.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      SourceKeyMaterialId: source.currentVersionId,
      DestinationKeyMaterialId: destination.currentVersionId,
    });
    const back = await call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, EncryptionContext: { to: 'b' } });
    expect(back.KeyId).toBe(destination.arn);
    expect(bytesOf(back.Plaintext).toString()).toBe('moving');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, EncryptionContext: { from: 'a' } }), 'InvalidCiphertextException');
  });

  it('authorises ReEncryptFrom on the source and ReEncryptTo on the destination, each with its context', async () => {
    const blob = await encryptUnder(source, 'x', { s: '1' });
    const seen: { action: string; key?: string; context: Record<string, unknown> }[] = [];
    const spy = { ...kms, deps: { ...kms.deps, authorizer: { authorize: async (requested: AuthorizationRequest | readonly AuthorizationRequest[]) => void seen.push(...[requested].flat().map((r) => ({ action: r.action, key: r.key?.keyId, context: r.context }))) } } };
    await call(spy, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: destination.keyId, DestinationEncryptionContext: { d: '2' } });
    expect(seen).toEqual([
      { action: 'kms:ReEncryptFrom', key: source.keyId, context: expect.objectContaining({ 'kms:EncryptionContext:s': '1', 'kms:ReEncryptOnSameKey': 'false' }) },
      { action: 'kms:ReEncryptTo', key: destination.keyId, context: expect.objectContaining({ 'kms:EncryptionContext:d': '2', 'kms:ReEncryptOnSameKey': 'false' }) },
    ]);
  });

  it('re-encrypts under the same key (e.g. onto its current material) and to and from RSA keys', async () => {
    const blob = await encryptUnder(source, 'same', {});
    const same = await call(kms, reEncrypt, { CiphertextBlob: blob, DestinationKeyId: source.keyId });
    expect(same.KeyId).toBe(source.arn);
    const rsa = await newKey(kms, 'RSA_3072', 'ENCRYPT_DECRYPT');
    const toRsa = await call(kms, reEncrypt, { CiphertextBlob: blob, DestinationKeyId: rsa.keyId, DestinationEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    expect(toRsa.DestinationKeyMaterialId).toBeUndefined();
    const back = await call(kms, reEncrypt, {
      CiphertextBlob: toRsa.CiphertextBlob,
      SourceKeyId: rsa.keyId,
      SourceEncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      DestinationKeyId: destination.keyId,
    });
    expect(bytesOf((await call(kms, decrypt, { CiphertextBlob: back.CiphertextBlob })).Plaintext).toString()).toBe('same');
  });

  it('reports the errors of both halves', async () => {
    const blob = await encryptUnder(source, 'x', { s: '1' });
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '2' }, DestinationKeyId: destination.keyId }), 'InvalidCiphertextException');
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceKeyId: destination.keyId, SourceEncryptionContext: { s: '1' }, DestinationKeyId: destination.keyId }), 'IncorrectKeyException');
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' } }), 'ValidationException', /destinationKeyId/);
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: 'missing' }), 'NotFoundException');
    const signing = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: signing.keyId }), 'InvalidKeyUsageException');
    // A SourceKeyId of another kind than the ciphertext's key: IncorrectKeyException, as AWS KMS answers.
    const hmac = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceKeyId: hmac.keyId, SourceEncryptionContext: { s: '1' }, DestinationKeyId: hmac.keyId }), 'IncorrectKeyException');
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: destination.keyId, DryRun: true }), 'DryRunOperationException');
    const disabled = await newKey(kms);
    await call(kms, disableKey, { KeyId: disabled.keyId });
    await expectKmsError(call(kms, reEncrypt, { CiphertextBlob: blob, SourceEncryptionContext: { s: '1' }, DestinationKeyId: disabled.keyId }), 'DisabledException');
  });
});
