/**
 * The real @aws-sdk/client-kms against the adapter listening on a loopback port: the SDK must
 * parse our success and error shapes exactly as it parses AWS's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, GenerateRandomCommand, KMSClient, CreateKeyCommand } from '@aws-sdk/client-kms';
import { createHarness, FIXED_RANDOM, KEY_ARN, SETTINGS, type Harness } from './support.js';

let h: Harness;
let endpoint: string;
const clients: KMSClient[] = [];

function client(overrides: { accessKeyId?: string; secretAccessKey?: string; region?: string; sessionToken?: string } = {}): KMSClient {
  const c = new KMSClient({
    endpoint,
    region: overrides.region ?? SETTINGS.region,
    credentials: {
      accessKeyId: overrides.accessKeyId ?? h.accessKeyId,
      secretAccessKey: overrides.secretAccessKey ?? h.secretAccessKey,
      ...(overrides.sessionToken ? { sessionToken: overrides.sessionToken } : {}),
    },
    maxAttempts: 1,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  h = await createHarness();
  endpoint = await h.server.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await h.close();
});

describe('@aws-sdk/client-kms against the adapter', () => {
  it('parses a successful response, blobs included', async () => {
    const out = await client().send(new GenerateRandomCommand({ NumberOfBytes: 16 }));
    expect(Buffer.from(out.Plaintext!).equals(FIXED_RANDOM)).toBe(true);
    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('signs the body we hash: a request with a blob verifies', async () => {
    const out = await client().send(new DecryptCommand({ CiphertextBlob: Buffer.from('any ciphertext'), EncryptionContext: { k: 'v' } }));
    expect(out.KeyId).toBe(KEY_ARN);
    expect(out.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
  });

  it('refuses temporary credentials (a session token) with UnrecognizedClientException: none can be valid here', async () => {
    await expect(
      client({ sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' }).send(new GenerateRandomCommand({ NumberOfBytes: 4 })),
    ).rejects.toMatchObject({ name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
  });

  it('raises NotFoundException with our message', async () => {
    const error = await client()
      .send(new DescribeKeyCommand({ KeyId: 'alias/missing' }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'NotFoundException', message: "Key 'alias/missing' does not exist" });
    expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(400);
  });

  it('raises KMSInternalException for an HSM fault and for a bug', async () => {
    await expect(client().send(new EncryptCommand({ KeyId: KEY_ARN, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'KMSInternalException',
    });
    await expect(client().send(new CreateKeyCommand({}))).rejects.toMatchObject({ name: 'KMSInternalException' });
  });

  it('raises UnrecognizedClientException for an unknown access key', async () => {
    await expect(client({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' }).send(new GenerateRandomCommand({ NumberOfBytes: 1 }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('raises InvalidSignatureException for a wrong secret and a wrong region', async () => {
    await expect(client({ secretAccessKey: 'not-the-secret' }).send(new GenerateRandomCommand({ NumberOfBytes: 1 }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      message: expect.stringMatching(/^The request signature we calculated does not match/),
    });
    await expect(client({ region: 'ap-south-1' }).send(new GenerateRandomCommand({ NumberOfBytes: 1 }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      message: "Credential should be scoped to a valid region, not 'ap-south-1'. ",
    });
  });

  it('keeps the secret out of the logs', () => {
    expect(h.logs()).not.toContain(h.secretAccessKey);
    expect(h.logs()).not.toContain(FIXED_RANDOM.toString('base64'));
  });
});
