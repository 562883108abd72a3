/**
 * Calls that make an RSA key pair take seconds of a shared resource each (RSA_4096):
 * GetParametersForImport's wrapping key pair is made in the HSM, on one of its pooled sessions;
 * GenerateDataKeyPair's RSA pair in software, on libuv's thread pool (which the audit trail's
 * writes use too). A node runs at most two of each at once (in-flight-limit.ts): a burst from one
 * caller (any principal may create keys of its own) is answered ThrottlingException beyond that,
 * which AWS SDKs retry with backoff, instead of holding the HSM sessions or the threads while
 * every other caller's request waits (before: 16 GetParametersForImport calls at once held an
 * Encrypt for 43 s, 12 RSA_4096 GenerateDataKeyPair calls one for 24 s).
 */
import { CreateKeyCommand, EncryptCommand, GenerateDataKeyPairCommand, GenerateDataKeyPairWithoutPlaintextCommand, GetParametersForImportCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { MAX_RSA_DATA_KEY_PAIRS_IN_PROGRESS } from '../../src/core/operations/generate-data-key-pair.js';
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

describe('GenerateDataKeyPair with an RSA pair spec in a burst', () => {
  it('beyond the RSA pairs a node makes at once: ThrottlingException; other calls and EC pairs are served meanwhile', async () => {
    const { kms } = h;
    const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    // RSA_3072, not 4096: three nodes on a two-core machine each make two at once, and six RSA_4096
    // pairs together can outlast the request deadline (DependencyTimeoutException, not the point here).
    const burst = Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        kms.send(
          i % 2 === 0
            ? new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'RSA_3072' })
            : new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: symmetric, KeyPairSpec: 'RSA_3072' }),
        ),
      ),
    );
    const encrypted = await kms.send(new EncryptCommand({ KeyId: symmetric, Plaintext: Buffer.from('served meanwhile') }));
    expect(encrypted.CiphertextBlob).toBeDefined();
    const ec = await kms.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'ECC_NIST_P256' }));
    expect(ec.KeyPairSpec).toBe('ECC_NIST_P256');
    const results = await burst;
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { name: string; message: string; $metadata?: { httpStatusCode?: number } });
    expect(results.length - refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThanOrEqual(12 - 3 * MAX_RSA_DATA_KEY_PAIRS_IN_PROGRESS);
    for (const error of refused) {
      expect(error).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      expect(error.message).toMatch(/GenerateDataKeyPair(WithoutPlaintext)? calls are making RSA key pairs on this node already.*retry shortly/);
    }
    const again = await kms.send(new GenerateDataKeyPairCommand({ KeyId: symmetric, KeyPairSpec: 'RSA_2048' }));
    expect(again.PrivateKeyPlaintext).toBeDefined();
  }, 120_000);
});
