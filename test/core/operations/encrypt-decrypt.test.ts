import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciphertextHeader, parseCiphertextBlob, writeCiphertextBlob } from '../../../src/core/ciphertext-blob.js';
import type { KeyRecord } from '../../../src/core/model.js';
import type { AuthorizationRequest } from '../../../src/core/ports.js';
import { createAlias } from '../../../src/core/operations/create-alias.js';
import { decrypt } from '../../../src/core/operations/decrypt.js';
import { disableKey } from '../../../src/core/operations/disable-key.js';
import { encrypt } from '../../../src/core/operations/encrypt.js';
import { getPublicKey } from '../../../src/core/operations/get-public-key.js';
import { reEncrypt } from '../../../src/core/operations/re-encrypt.js';
import { createTestKms, type TestKms } from '../../support/kms-deps.js';
import { addVersion, b64, bytesOf, call, expectKmsError, newKey, setState } from './crypto-fixtures.js';

let kms: TestKms;
let key: KeyRecord;
const context = { tenant: 'acme', purpose: 'test' };

beforeAll(async () => {
  kms = await createTestKms();
  key = await newKey(kms);
});
afterAll(() => kms.close());

async function encryptSym(plaintext: Buffer, ctx: Record<string, string> = context, keyId = key.keyId): Promise<Buffer> {
  const out = await call(kms, encrypt, { KeyId: keyId, Plaintext: b64(plaintext), EncryptionContext: ctx });
  return bytesOf(out.CiphertextBlob);
}

describe('Encrypt and Decrypt with a symmetric key', () => {
  it('round-trips 1 and 4096 bytes and answers with AWS field names', async () => {
    for (const size of [1, 4096]) {
      const plaintext = Buffer.alloc(size, size % 251);
      const out = await call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64(plaintext), EncryptionContext: context });
      // Exactly AWS's EncryptResponse members (the SDK's model): KeyMaterialId is Decrypt's, not Encrypt's.
      expect(out).toEqual({
        CiphertextBlob: expect.any(String),
        KeyId: key.arn,
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      });
      if (size > 16) expect(bytesOf(out.CiphertextBlob).includes(plaintext.subarray(0, 16))).toBe(false);
      const back = await call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, EncryptionContext: { purpose: 'test', tenant: 'acme' } });
      expect(back).toEqual({ KeyId: key.arn, Plaintext: b64(plaintext), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', KeyMaterialId: key.currentVersionId });
    }
  });

  it('accepts the key as id, key ARN, alias name and alias ARN, on both sides', async () => {
    await call(kms, createAlias, { AliasName: 'alias/crypto-test', TargetKeyId: key.keyId });
    const aliasArn = `arn:aws:kms:us-east-1:111122223333:alias/crypto-test`;
    for (const id of [key.keyId, key.arn, 'alias/crypto-test', aliasArn]) {
      const blob = await encryptSym(Buffer.from('hi'), {}, id);
      const out = await call(kms, decrypt, { CiphertextBlob: b64(blob), KeyId: id });
      expect(bytesOf(out.Plaintext).toString()).toBe('hi');
    }
  });

  it('gives different ciphertexts for the same plaintext (fresh IV)', async () => {
    const a = await encryptSym(Buffer.from('same'));
    const b = await encryptSym(Buffer.from('same'));
    expect(a.equals(b)).toBe(false);
    expect(parseCiphertextBlob(a).iv.equals(parseCiphertextBlob(b).iv)).toBe(false);
  });

  it('refuses a different, missing or extra encryption context', async () => {
    const blob = b64(await encryptSym(Buffer.from('secret')));
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob }), 'InvalidCiphertextException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { ...context, tenant: 'other' } }), 'InvalidCiphertextException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { ...context, extra: '' } }), 'InvalidCiphertextException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: { tenant: 'acme' } }), 'InvalidCiphertextException');
  });

  it('detects a change to any byte of the blob, and truncation', async () => {
    const blob = await encryptSym(Buffer.from('tamper me'));
    const keyIdBytes = [2, 2 + key.keyId.length];
    for (let i = 0; i < blob.length; i++) {
      const copy = Buffer.from(blob);
      copy[i]! ^= 0x80;
      const type = await call(kms, decrypt, { CiphertextBlob: b64(copy), EncryptionContext: context }).then(
        () => 'decrypted',
        (err: { type?: string }) => err.type,
      );
      // A changed key id (or its length) names a key that does not exist; everything else fails the tag or the parse.
      const allowed = i === 1 || (i >= keyIdBytes[0]! && i < keyIdBytes[1]!) ? ['NotFoundException', 'InvalidCiphertextException'] : ['InvalidCiphertextException'];
      expect(allowed, `byte ${i}`).toContain(type);
    }
    for (const length of [0, 1, 10, blob.length - 17, blob.length - 1]) {
      await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(blob.subarray(0, length)), EncryptionContext: context }), length === 0 ? 'ValidationException' : 'InvalidCiphertextException');
    }
  });

  it('answers IncorrectKeyException when KeyId names another key', async () => {
    const other = await newKey(kms);
    const blob = b64(await encryptSym(Buffer.from('x')));
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: context, KeyId: other.keyId }), 'IncorrectKeyException');
    // So is a KeyId naming a key of another kind: AWS KMS answers Decrypt of a symmetric
    // ciphertext with an HMAC key's id IncorrectKeyException (this said InvalidKeyUsageException).
    for (const [spec, usage] of [['HMAC_256', 'GENERATE_VERIFY_MAC'], ['ECC_NIST_P256', 'SIGN_VERIFY'], ['RSA_2048', 'ENCRYPT_DECRYPT']] as const) {
      const named = await newKey(kms, spec, usage);
      await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: context, KeyId: named.keyId }), 'IncorrectKeyException');
    }
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: context, KeyId: 'alias/crypto-test-missing' }), 'NotFoundException');
  });

  it('keeps decrypting with old key material after a new version becomes current', async () => {
    const rotating = await newKey(kms);
    const before = await encryptSym(Buffer.from('old'), context, rotating.keyId);
    const newVersion = await addVersion(kms, rotating);
    const after = await encryptSym(Buffer.from('new'), context, rotating.keyId);
    expect(parseCiphertextBlob(before).versionId).toBe(rotating.currentVersionId);
    expect(parseCiphertextBlob(after).versionId).toBe(newVersion);
    for (const [blob, text] of [[before, 'old'], [after, 'new']] as const) {
      const out = await call(kms, decrypt, { CiphertextBlob: b64(blob), EncryptionContext: context });
      expect(bytesOf(out.Plaintext).toString()).toBe(text);
    }
  });

  it('refuses a ciphertext whose version the key does not have', async () => {
    const blob = await encryptSym(Buffer.from('x'));
    const header = parseCiphertextBlob(blob);
    const forged = Buffer.from(blob);
    forged.fill(0x11, header.header.length - 32, header.header.length);
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(forged), EncryptionContext: context }), 'InvalidCiphertextException');
  });

  it('honours key state and usage', async () => {
    const disabled = await newKey(kms);
    const blob = b64(await encryptSym(Buffer.from('x'), {}, disabled.keyId));
    await call(kms, disableKey, { KeyId: disabled.keyId });
    await expectKmsError(call(kms, encrypt, { KeyId: disabled.keyId, Plaintext: b64('x') }), 'DisabledException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob }), 'DisabledException');
    const pending = await newKey(kms);
    const pendingBlob = b64(await encryptSym(Buffer.from('x'), {}, pending.keyId));
    await setState(kms, pending, 'PendingDeletion');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: pendingBlob }), 'KMSInvalidStateException');
    const signing = await newKey(kms, 'ECC_NIST_P256', 'SIGN_VERIFY');
    await expectKmsError(call(kms, encrypt, { KeyId: signing.keyId, Plaintext: b64('x') }), 'InvalidKeyUsageException');
    const hmac = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    await expectKmsError(call(kms, encrypt, { KeyId: hmac.keyId, Plaintext: b64('x') }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, encrypt, { KeyId: 'no-such-key', Plaintext: b64('x') }), 'NotFoundException');
  });

  it('validates input with AWS exception names', async () => {
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId }), 'ValidationException', /plaintext/);
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: '' }), 'ValidationException', /greater than or equal to 1/);
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64(Buffer.alloc(4097)) }), 'ValidationException', /less than or equal to 4096/);
    await expectKmsError(call(kms, encrypt, { Plaintext: b64('x') }), 'ValidationException', /keyId/);
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: 'not base64!' }), 'SerializationException');
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), EncryptionAlgorithm: 'AES' }), 'ValidationException', /enum/);
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), EncryptionContext: { a: 1 } }), 'SerializationException');
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), GrantTokens: new Array(11).fill('t') }), 'ValidationException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(Buffer.alloc(6145, 1)) }), 'ValidationException', /6144/);
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64('x'), Recipient: { AttestationDocument: 'AA==' } }), 'UnsupportedOperationException');
  });

  it('DryRun checks everything, then answers DryRunOperationException without acting', async () => {
    await expectKmsError(call(kms, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), DryRun: true }), 'DryRunOperationException');
    await expectKmsError(call(kms, encrypt, { KeyId: 'missing', Plaintext: b64('x'), DryRun: true }), 'NotFoundException');
    const blob = b64(await encryptSym(Buffer.from('x')));
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: blob, EncryptionContext: context, DryRun: true }), 'DryRunOperationException');
  });

  it('passes the encryption context and algorithm to the authorizer', async () => {
    const seen: Record<string, unknown>[] = [];
    const spy = { ...kms, deps: { ...kms.deps, authorizer: { authorize: async (requested: AuthorizationRequest | readonly AuthorizationRequest[]) => void seen.push(...[requested].flat().map((r) => ({ action: r.action, ...r.context }))) } } };
    await call(spy, encrypt, { KeyId: key.keyId, Plaintext: b64('x'), EncryptionContext: { dept: 'it' } });
    expect(seen).toEqual([{ action: 'kms:Encrypt', 'kms:EncryptionContext:dept': 'it', 'kms:EncryptionContextKeys': ['dept'], 'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT' }]);
  });
});

describe('Encrypt and Decrypt with RSA keys', () => {
  const limits = { RSA_2048: [214, 190], RSA_3072: [342, 318], RSA_4096: [470, 446] } as const;
  for (const spec of ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const) {
    it(`${spec}: OAEP SHA-1/SHA-256 round trips, per-size limits, node:crypto interop`, async () => {
      const rsa = await newKey(kms, spec, 'ENCRYPT_DECRYPT');
      const pub = await call(kms, getPublicKey, { KeyId: rsa.keyId });
      const publicKey = createPublicKey({ key: bytesOf(pub.PublicKey), format: 'der', type: 'spki' });
      for (const [i, algorithm] of (['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const).entries()) {
        const max = limits[spec][i]!;
        const plaintext = Buffer.alloc(max, 0x42);
        const out = await call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64(plaintext), EncryptionAlgorithm: algorithm });
        expect(out.KeyMaterialId).toBeUndefined();
        expect(bytesOf(out.CiphertextBlob).length).toBe(Number(spec.slice(4)) / 8);
        const back = await call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, KeyId: rsa.keyId, EncryptionAlgorithm: algorithm });
        expect(back).toEqual({ KeyId: rsa.arn, Plaintext: b64(plaintext), EncryptionAlgorithm: algorithm });
        await expectKmsError(call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64(Buffer.alloc(max + 1)), EncryptionAlgorithm: algorithm }), 'ValidationException', new RegExp(`${max} bytes`));
        await expectKmsError(call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64(Buffer.alloc(max + 1)), EncryptionAlgorithm: algorithm, DryRun: true }), 'ValidationException');
        // A ciphertext made by node:crypto with the exported public key decrypts in the HSM.
        const oaepHash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
        const external = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, Buffer.from('from node'));
        const fromNode = await call(kms, decrypt, { CiphertextBlob: b64(external), KeyId: rsa.arn, EncryptionAlgorithm: algorithm });
        expect(bytesOf(fromNode.Plaintext).toString()).toBe('from node');
        // The other OAEP hash does not decrypt it.
        const wrongAlgorithm = algorithm === 'RSAES_OAEP_SHA_1' ? 'RSAES_OAEP_SHA_256' : 'RSAES_OAEP_SHA_1';
        await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(external), KeyId: rsa.keyId, EncryptionAlgorithm: wrongAlgorithm }), 'InvalidCiphertextException');
      }
    });
  }

  it('needs KeyId and an RSA algorithm to decrypt; refuses encryption context and SYMMETRIC_DEFAULT', async () => {
    const rsa = await newKey(kms, 'RSA_2048', 'ENCRYPT_DECRYPT');
    const out = await call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob }), 'InvalidCiphertextException');
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }), 'ValidationException', /KeyId/);
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: out.CiphertextBlob, KeyId: rsa.keyId }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64('x') }), 'InvalidKeyUsageException');
    await expectKmsError(call(kms, encrypt, { KeyId: rsa.keyId, Plaintext: b64('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1', EncryptionContext: { a: 'b' } }), 'ValidationException', /EncryptionContext/);
    const tampered = bytesOf(out.CiphertextBlob);
    tampered[10]! ^= 1;
    await expectKmsError(call(kms, decrypt, { CiphertextBlob: b64(tampered), KeyId: rsa.keyId, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }), 'InvalidCiphertextException');
    const signing = await newKey(kms, 'RSA_2048', 'SIGN_VERIFY');
    await expectKmsError(call(kms, encrypt, { KeyId: signing.keyId, Plaintext: b64('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }), 'InvalidKeyUsageException');
  });
  it('answers a symmetric blob crafted to name a non-symmetric key without calling the HSM: InvalidCiphertextException for an ENCRYPT_DECRYPT key, InvalidKeyUsageException for any other', async () => {
    const rsa = await newKey(kms, 'RSA_2048', 'ENCRYPT_DECRYPT');
    const hmac = await newKey(kms, 'HMAC_256', 'GENERATE_VERIFY_MAC');
    const backendCalls: string[] = [];
    const counting = new Proxy(kms.backend, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          backendCalls.push(String(name));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const deps = { ...kms.deps, backend: counting };
    for (const [target, expected] of [
      [rsa, 'InvalidCiphertextException'],
      [hmac, 'InvalidKeyUsageException'],
    ] as const) {
      // A well-formed version-1 blob naming the key and its real material version.
      const header = ciphertextHeader({ keyId: target.keyId, versionId: target.currentVersionId! });
      const forged = writeCiphertextBlob(header, Buffer.alloc(12, 7), Buffer.alloc(48, 9));
      for (const input of [{ CiphertextBlob: b64(forged) }, { CiphertextBlob: b64(forged), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }]) {
        await expectKmsError(decrypt.run(deps, kms.ctx, input), expected);
        await expectKmsError(reEncrypt.run(deps, kms.ctx, { ...input, DestinationKeyId: key.keyId }), expected);
      }
    }
    expect(backendCalls).toEqual([]);
  });
});
