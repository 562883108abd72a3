/**
 * An Ed25519 key's material is a token object of its own (key-specs.ts `tokenObject`). When that
 * object is gone from the token (deleted outside hsmkms), Sign through the unmodified AWS SDK
 * answers what a custom key store's key whose token object went answers: KMSInvalidStateException
 * (400, not retried), never a retryable KMSInternalException that can never succeed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CreateKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { parseTokenKeyReference } from '../../src/backend/pkcs11/token-key-reference.js';
import { TOKEN_MATERIAL_LABEL } from '../../src/backend/pkcs11/key-specs.js';
import { env } from '../support/hsm.js';
import { sdkFailure } from '../support/errors.js';
import { sdkServer } from '../support/sdk-server.js';

const api = sdkServer();

/** Deletes a private key object with pkcs11-tool, an outside tool (the PIN is a test token's, read from its file). */
function deleteWithPkcs11Tool(id: Buffer): void {
  execFileSync(
    'pkcs11-tool',
    [
      '--module', env('HSMKMS_TEST_MODULE'), '--token-label', env('HSMKMS_TEST_TOKEN'), '--login', '--pin', readFileSync(env('HSMKMS_TEST_PIN_FILE'), 'utf8').trim(),
      '--delete-object', '--type', 'privkey', '--id', id.toString('hex'), '--label', TOKEN_MATERIAL_LABEL,
    ],
    { env: process.env, stdio: 'ignore' },
  );
}

describe('Ed25519 key whose token object is gone', () => {
  it('Sign answers KMSInvalidStateException naming the cause, not a retryable internal error', async () => {
    const { kms, server } = api;
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }));
    const KeyId = KeyMetadata!.KeyId!;
    const sign = () => kms.send(new SignCommand({ KeyId, Message: Buffer.from('a message'), SigningAlgorithm: 'ED25519_SHA_512', MessageType: 'RAW' }));
    expect((await sign()).Signature).toHaveLength(64);

    const [version] = await server.app.store.listKeyVersions(KeyId);
    deleteWithPkcs11Tool(parseTokenKeyReference(version!.wrappedMaterial).id);

    // Twice: the first finds the cached handle stale, the second finds no object at all.
    for (let i = 0; i < 2; i++) {
      const failure = await sdkFailure(sign());
      expect(failure).toMatchObject({ name: 'KMSInvalidStateException', status: 400 });
      expect(failure.message).toMatch(/key material .* is not in (its|the) HSM/i);
      expect(failure.message).toContain(KeyId);
    }
  });
});
