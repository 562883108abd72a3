/** The AWS Encryption SDK for JavaScript, unmodified, with a KMS keyring pointed at hsmkms. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { KMS, CreateKeyCommand } from '@aws-sdk/client-kms';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server?.close());

it('round-trips 1 MiB through a KMS keyring with two wrapping keys', async () => {
  const clientProvider = (region: string) =>
    new KMS({ endpoint: server.endpoint, region, credentials: server.credentials, maxAttempts: 1 });
  const admin = clientProvider(server.region);
  const generator = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const second = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  const keyring = new KmsKeyringNode({ clientProvider, generatorKeyId: generator, keyIds: [second] });
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const plaintext = randomBytes(1024 * 1024);
  const context = { stage: 'test', purpose: 'envelope' };
  const { result } = await encrypt(keyring, plaintext, { encryptionContext: context });
  expect(result.length).toBeGreaterThan(plaintext.length);
  const decrypted = await decrypt(keyring, result);
  expect(Buffer.from(decrypted.plaintext).equals(plaintext)).toBe(true);
  expect(decrypted.messageHeader.encryptionContext).toMatchObject(context);
  expect(decrypted.messageHeader.encryptedDataKeys).toHaveLength(2);
  // Each wrapping key alone opens the message: a keyring holding only the second key decrypts.
  const secondOnly = new KmsKeyringNode({ clientProvider, keyIds: [second] });
  const again = await decrypt(secondOnly, result);
  expect(Buffer.from(again.plaintext).equals(plaintext)).toBe(true);
});
