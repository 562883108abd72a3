/**
 * Probes of the KMS API's front door (real server, real token, real HTTP, the AWS SDK v3 and
 * its SigV4 signer): what a client or an attacker can send, and what it must not achieve.
 */
import { describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CreateGrantCommand, CreateKeyCommand, DescribeKeyCommand, GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { sdkServer } from '../support/sdk-server.js';

const ctx = sdkServer();

/** POSTs `body` to `TrentService.<operation>`, signed by the root credentials as the SDK signs. */
async function call(operation: string, body: unknown) {
  const url = new URL(ctx.server.endpoint);
  const signer = new SignatureV4({ credentials: ctx.server.credentials, region: ctx.server.region, service: 'kms', sha256: Sha256 });
  const text = JSON.stringify(body);
  const headers = { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` };
  const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers, body: text });
  const res = await fetch(ctx.server.endpoint, { method: 'POST', headers: signed.headers, body: text });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('GrantTokens', () => {
  it('are ignored by an operation that takes none, as AWS ignores unknown members: no token is opened', async () => {
    const { KeyMetadata } = await ctx.kms.send(new CreateKeyCommand({}));
    const KeyId = KeyMetadata!.KeyId!;
    // Before: the authorizer opened every token of any operation's input in the HSM, unbounded
    // (DisableKey does not validate a member it does not take), so one 1 MiB request could ask
    // for ~100,000 unseals, and a garbage token failed a call that AWS would have run.
    const { GrantToken, GrantId } = await ctx.kms.send(
      new CreateGrantCommand({ KeyId, GranteePrincipal: `arn:aws:iam::${'111122223333'}:root`, Operations: ['Decrypt'] }),
    );
    const disabled = await call('DisableKey', { KeyId, GrantTokens: [...Array(50).fill(GrantToken), 'not a token'] });
    expect(disabled).toEqual({ status: 200, body: {} });
    const after = await ctx.kms.send(new DescribeKeyCommand({ KeyId }));
    expect(after.KeyMetadata?.KeyState).toBe('Disabled');
    // RetireGrant is allowed by grants but takes no GrantTokens either.
    expect(await call('RetireGrant', { KeyId, GrantId, GrantTokens: ['not a token'] })).toEqual({ status: 200, body: {} });
  });

  it('are limited to 10 wherever they are read', async () => {
    const { KeyMetadata } = await ctx.kms.send(new CreateKeyCommand({}));
    const KeyId = KeyMetadata!.KeyId!;
    const { GrantToken } = await ctx.kms.send(
      new CreateGrantCommand({ KeyId, GranteePrincipal: `arn:aws:iam::${'111122223333'}:root`, Operations: ['Decrypt'] }),
    );
    const operations = ['DescribeKey', 'Encrypt', 'Decrypt', 'ReEncrypt', 'GetPublicKey', 'CreateGrant', 'Sign', 'Verify', 'GenerateMac', 'VerifyMac'];
    for (const kind of ['', 'WithoutPlaintext']) operations.push(`GenerateDataKey${kind}`, `GenerateDataKeyPair${kind}`);
    for (const operation of operations) {
      const answer = await call(operation, { KeyId, GrantTokens: Array(11).fill(GrantToken) });
      expect({ operation, ...answer }).toMatchObject({ operation, status: 400, body: { __type: 'ValidationException' } });
    }
  });
});

describe('key policies', () => {
  it('refuse a member repeated within one object, which JSON readers resolve differently; the old policy stays', async () => {
    const { KeyMetadata } = await ctx.kms.send(new CreateKeyCommand({}));
    const KeyId = KeyMetadata!.KeyId!;
    const { Policy: before } = await ctx.kms.send(new GetKeyPolicyCommand({ KeyId }));
    const root = { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' };
    // Read first-wins (as a person scanning it would), the second statement denies Decrypt to
    // everyone; JSON.parse keeps the last Effect, so before this it allowed Decrypt to everyone.
    const repeated = `{"Version":"2012-10-17","Statement":[${JSON.stringify(root)},{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","\\u0045ffect":"Allow"}]}`;
    await expect(ctx.kms.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: repeated }))).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
      message: expect.stringContaining('repeats the member "Effect"'),
    });
    // Repeated condition operators: the first block silently vanished.
    const conditions = `{"Version":"2012-10-17","Statement":[${JSON.stringify(root).slice(0, -1)},"Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"},"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}`;
    await expect(ctx.kms.send(new CreateKeyCommand({ Policy: conditions }))).rejects.toMatchObject({
      name: 'MalformedPolicyDocumentException',
      message: expect.stringContaining('repeats the member "StringEquals"'),
    });
    expect((await ctx.kms.send(new GetKeyPolicyCommand({ KeyId }))).Policy).toBe(before);
    // The same names in different objects are no repetition.
    const fine = `{"Version":"2012-10-17","Statement":[${JSON.stringify(root)},${JSON.stringify({ ...root, Sid: 'again' })}]}`;
    await ctx.kms.send(new PutKeyPolicyCommand({ KeyId, PolicyName: 'default', Policy: fine }));
  });
});
