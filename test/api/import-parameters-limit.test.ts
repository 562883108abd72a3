/**
 * GetParametersForImport makes an RSA wrapping key pair in the HSM, on one of its pooled sessions
 * (RSA_4096: seconds). A node makes at most two at once (MAX_WRAPPING_KEYS_IN_PROGRESS): a burst
 * from one caller (any principal may create an EXTERNAL key of its own) is answered
 * ThrottlingException beyond that, which AWS SDKs retry with backoff, instead of holding every
 * session while every other caller's request waits (before: 16 at once held Encrypt for 43 s).
 */
import { CreateKeyCommand, EncryptCommand, GetParametersForImportCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { MAX_WRAPPING_KEYS_IN_PROGRESS } from '../../src/core/operations/get-parameters-for-import.js';
import { sdkServer } from '../support/sdk-server.js';

const h = sdkServer();

describe('GetParametersForImport in a burst', () => {
  it('beyond the wrapping keys a node makes at once: ThrottlingException; other calls are served meanwhile', async () => {
    const { kms } = h;
    const external = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
    const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const burst = Promise.allSettled(
      Array.from({ length: 12 }, () => kms.send(new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_4096' }))),
    );
    const encrypted = await kms.send(new EncryptCommand({ KeyId: symmetric, Plaintext: Buffer.from('served meanwhile') }));
    expect(encrypted.CiphertextBlob).toBeDefined();
    const results = await burst;
    const made = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { name: string; message: string; $metadata?: { httpStatusCode?: number } });
    expect(made.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThan(0);
    // A single node makes two at once; three nodes (the three-nodes project) six.
    expect(refused.length).toBeGreaterThanOrEqual(12 - 3 * MAX_WRAPPING_KEYS_IN_PROGRESS);
    for (const error of refused) {
      expect(error).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      expect(error.message).toMatch(/GetParametersForImport calls are making their wrapping keys in the HSM on this node already.*retry shortly/);
    }
    // The calls refused made nothing: once the burst is over, a call is served again.
    const again = await kms.send(new GetParametersForImportCommand({ KeyId: external, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
    expect(again.ImportToken).toBeDefined();
  }, 120_000);
});
