import { describe, expect, it } from 'vitest';
import { BackendError, KmsError } from '../../src/core/errors.js';
import { IMPORT_TOKEN_VERSION, importTokenEnvelope, readImportToken, writeImportToken } from '../../src/core/import-token.js';
import { testBackend } from '../support/kms-deps.js';

const claims = { tokenId: '0f8fad5b-d9cb-469f-a165-70867728950e', keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', expiresAt: new Date(1_800_000_000_123) };

async function expectInvalid(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toMatchObject({ type: 'InvalidImportTokenException' });
}

describe('import token envelope', () => {
  it('rejects tokens without the version byte or a sealed part', () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from([IMPORT_TOKEN_VERSION]), Buffer.from([2, 1, 2, 3]), Buffer.from([0, 1])]) {
      expect(() => importTokenEnvelope(bytes)).toThrow(KmsError);
    }
    expect(importTokenEnvelope(Buffer.from([IMPORT_TOKEN_VERSION, 9, 8]))).toEqual(Buffer.from([9, 8]));
  });
});

describe('import token sealed by the HSM', () => {
  it('round-trips its claims', async () => {
    const backend = await testBackend();
    const token = await writeImportToken(backend, claims);
    expect(token[0]).toBe(IMPORT_TOKEN_VERSION);
    expect(token.includes(Buffer.from(claims.keyId))).toBe(false);
    await expect(readImportToken(backend, token)).resolves.toEqual(claims);
  });

  it('detects any altered byte, truncation and garbage', async () => {
    const backend = await testBackend();
    const token = await writeImportToken(backend, claims);
    for (let i = 0; i < token.length; i++) {
      const copy = Buffer.from(token);
      copy[i]! ^= 0x01;
      await expectInvalid(readImportToken(backend, copy));
    }
    await expectInvalid(readImportToken(backend, token.subarray(0, token.length - 1)));
    await expectInvalid(readImportToken(backend, Buffer.concat([token, Buffer.from([0])])));
    await expectInvalid(readImportToken(backend, Buffer.concat([Buffer.from([IMPORT_TOKEN_VERSION]), Buffer.alloc(64, 0x5a)])));
  });

  it('lets HSM faults other than bad data through', async () => {
    const failing = {
      unsealSecret: async () => {
        throw new BackendError('unavailable', 'C_Decrypt failed: CKR_DEVICE_ERROR');
      },
    };
    await expect(readImportToken(failing, Buffer.from([IMPORT_TOKEN_VERSION, 1, 2, 3]))).rejects.toBeInstanceOf(BackendError);
  });
});
