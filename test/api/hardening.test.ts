/**
 * Regressions of the hardening issue on the whole service (real token, real store, real HTTP),
 * each driven the way an attacker or a careless client would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CreateKeyCommand, DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { startServer, type RunningServer } from '../support/server.js';

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

/** Signs a POST / with exactly `headers` (plus host and x-amz-date), then sends it with `extra` added unsigned. */
async function sendSigned(headers: Record<string, string>, body: string | Buffer, extra: Record<string, string> = {}) {
  const url = new URL(server.endpoint);
  const signer = new SignatureV4({ credentials: server.credentials, region: server.region, service: 'kms', sha256: Sha256 });
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host, ...headers }, body });
  const res = await fetch(server.endpoint, { method: 'POST', headers: { ...signed.headers, ...extra }, body });
  return { status: res.status, body: (await res.json()) as { __type?: string; message?: string } };
}

describe('SigV4 covers what selects the operation', () => {
  it('refuses a request signed without X-Amz-Target and resent as DisableKey; the key stays enabled', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const keyId = KeyMetadata!.KeyId!;
    const body = JSON.stringify({ KeyId: keyId });
    // A client that signs only what it must (host, x-amz-date, content-type) ...
    const described = await sendSigned({ 'content-type': 'application/x-amz-json-1.1' }, body, { 'x-amz-target': 'TrentService.DescribeKey' });
    // ... is refused too: the target is outside the signature, so the same bytes could name any operation.
    expect(described.status).toBe(400);
    const replayed = await sendSigned({ 'content-type': 'application/x-amz-json-1.1' }, body, { 'x-amz-target': 'TrentService.DisableKey' });
    expect(replayed).toEqual({
      status: 400,
      body: { __type: 'InvalidSignatureException', message: "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization." },
    });
    const after = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    expect(after.KeyMetadata?.KeyState).toBe('Enabled');
    // The same request with the target signed works.
    const proper = await sendSigned({ 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' }, body);
    expect(proper.status).toBe(200);
  });
});

describe('strings are well-formed Unicode', () => {
  it('refuses encryption contexts with lone surrogates, which would authenticate as each other', async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const KeyId = KeyMetadata!.KeyId!;
    // Before: {"k":"\ud800"} encrypted and {"k":"\udbff"} decrypted the result.
    await expect(kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { k: '\ud800' } }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'encryptionContext.k'"),
    });
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x'), EncryptionContext: { k: '\ufffd' } }));
    for (const k of ['\ud800', '\udbff'])
      await expect(kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { k } }))).rejects.toMatchObject({ name: 'ValidationException' });
    const back = await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { k: '\ufffd' } }));
    expect(Buffer.from(back.Plaintext!).toString()).toBe('x');
  });

  it('refuses a body that is not valid UTF-8, and one nested too deep, with SerializationException', async () => {
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.GenerateRandom' };
    const invalid = Buffer.concat([Buffer.from('{"NumberOfBytes":8,"X":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const bad = await sendSigned(headers, invalid);
    expect(bad).toEqual({ status: 400, body: { __type: 'SerializationException', message: 'The request body is not valid UTF-8.' } });
    const deep = await sendSigned(headers, `{"NumberOfBytes":8,"X":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect(deep).toEqual({ status: 400, body: { __type: 'SerializationException', message: 'The request body nests deeper than 32 levels.' } });
  });
});
