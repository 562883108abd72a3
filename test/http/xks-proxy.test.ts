/**
 * hsmkms as an XKS proxy, checked the way AWS's published test client
 * (aws-samples/aws-kms-xksproxy-test-client) checks a proxy — every one of its 49 non-mTLS
 * checks has its counterpart here, written from the specification — plus the bad input a proxy
 * on the internet gets. Requests are signed by two independent signers: curl's --aws-sigv4 and
 * the AWS SDK's @smithy/signature-v4.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { TokenXksKeys } from '../../src/backend/pkcs11/xks-keys.js';
import { readPin } from '../../src/config/hsm.js';
import { createXksCredential, type NewXksCredential } from '../../src/xks/credentials.js';
import { legacyAadInput } from '../../src/xks/gcm-framing.js';
import { startServer, type RunningServer } from '../support/server.js';
import { tokenConfig } from '../backend/pkcs11/helpers.js';

type Signer = 'curl' | 'smithy';
interface Reply {
  status: number;
  text: string;
  json: Record<string, unknown>;
}

let server: RunningServer;
let keys: TokenXksKeys;
let credential: NewXksCredential;
const run = randomBytes(4).toString('hex');
const KEY = `xks-${run}-both`;
const ENCRYPT_ONLY = `xks-${run}-encrypt`;
const DECRYPT_ONLY = `xks-${run}-decrypt`;
const IMPOTENT = `xks-${run}-none`;
const PREFIX = `tenant-${run}/example`;

beforeAll(async () => {
  server = await startServer();
  keys = await TokenXksKeys.open({ ...tokenConfig(), pin: async () => readPin(tokenConfig().pin) });
  await keys.create(KEY, { encrypt: true, decrypt: true });
  await keys.create(ENCRYPT_ONLY, { encrypt: true, decrypt: false });
  await keys.create(DECRYPT_ONLY, { encrypt: false, decrypt: true });
  await keys.create(IMPOTENT, { encrypt: false, decrypt: false });
  credential = await createXksCredential(server.app.store, server.app.backend, PREFIX, new Date());
});
afterAll(async () => {
  await keys?.close();
  await server?.close();
});

function url(path: string, prefix = PREFIX): string {
  return `${server.endpoint}/${prefix}/kms/xks/v1/${path}`;
}

interface PostOptions {
  signer?: Signer;
  prefix?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  service?: string;
  signingDate?: Date;
}

async function post(path: string, body: unknown, options: PostOptions = {}): Promise<Reply> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const target = url(path, options.prefix);
  const accessKeyId = options.accessKeyId ?? credential.accessKeyId;
  const secretAccessKey = options.secretAccessKey ?? credential.secretAccessKey;
  const service = options.service ?? 'kms-xks-proxy';
  let status: number;
  let out: string;
  if ((options.signer ?? 'curl') === 'curl') {
    ({ status, out } = await curl(target, text, accessKeyId, secretAccessKey, service));
  } else {
    const u = new URL(target);
    const signer = new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region: 'eu-central-1', service, sha256: Sha256 });
    const signed = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, headers: { host: u.host, 'content-type': 'application/json' }, body: text },
      options.signingDate ? { signingDate: options.signingDate } : {},
    );
    const response = await fetch(target, { method: 'POST', headers: signed.headers as Record<string, string>, body: text });
    status = response.status;
    out = await response.text();
  }
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(out);
  } catch {
    /* the assertions say what was expected */
  }
  return { status, text: out, json };
}

function curl(target: string, body: string, accessKeyId: string, secret: string, service: string): Promise<{ status: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'curl',
      ['--silent', '--show-error', '--output', '-', '--write-out', '\n%{http_code}', '-H', 'Content-Type:application/json', '--aws-sigv4', `aws:amz:us-east-1:${service}`, '--user', `${accessKeyId}:${secret}`, '--data-binary', '@-', target],
      { timeout: 30_000 },
      (error, stdout) => {
        if (error) return reject(error);
        const cut = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(cut + 1)), out: stdout.slice(0, cut) });
      },
    );
    child.stdin!.end(body);
  });
}

const metadata = (operation: string) => ({
  awsPrincipalArn: 'arn:aws:iam::123456789012:user/Alice',
  kmsKeyArn: 'arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab',
  kmsOperation: operation,
  kmsRequestId: randomBytes(16).toString('hex'),
  kmsViaService: 'ebs',
});
const healthBody = () => ({ requestMetadata: { kmsOperation: 'KmsHealthCheck', kmsRequestId: randomBytes(8).toString('hex') } });
const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');
const PLAINTEXT = b64('plaintext\n');
const AAD = b64('project=nile,department=marketing');
const AAD2 = b64('project=blue,department=finance');

function encryptBody(plaintext?: string, aad?: string, cdiv?: boolean): Record<string, unknown> {
  return {
    requestMetadata: metadata('Encrypt'),
    ...(aad ? { additionalAuthenticatedData: aad } : {}),
    ...(plaintext !== undefined ? { plaintext } : {}),
    ...(cdiv ? { ciphertextDataIntegrityValueAlgorithm: 'SHA_256' } : {}),
    encryptionAlgorithm: 'AES_GCM',
  };
}

function decryptBody(encrypted: Record<string, unknown>, aad?: string): Record<string, unknown> {
  return {
    requestMetadata: metadata('Decrypt'),
    ...(aad ? { additionalAuthenticatedData: aad } : {}),
    ciphertext: encrypted.ciphertext,
    initializationVector: encrypted.initializationVector,
    authenticationTag: encrypted.authenticationTag,
    encryptionAlgorithm: 'AES_GCM',
  };
}

function expectError(reply: Reply, errorName: string, status: number): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json.errorName, reply.text).toBe(errorName);
  expect(typeof reply.json.errorMessage).toBe('string');
  expect(reply.json.errorMessage as string).toMatch(/^[\x20-\x7e]{0,511}$/);
}

describe.each(['curl', 'smithy'] as const)('the XKS proxy API, signed by %s', (signer) => {
  const send = (path: string, body: unknown, options: PostOptions = {}) => post(path, body, { signer, ...options });

  describe('GetHealthStatus', () => {
    it('reports the proxy and the token it uses, in one line of JSON', async () => {
      const reply = await send('health', healthBody());
      expect(reply.status).toBe(200);
      expect(reply.text).not.toContain('\n');
      expect(reply.json).toMatchObject({ xksProxyFleetSize: 1, xksProxyVendor: 'hsmkms', ekmVendor: 'SoftHSM project' });
      const fleet = reply.json.ekmFleetDetails as Array<Record<string, unknown>>;
      expect(fleet.length).toBeGreaterThanOrEqual(1);
      expect(fleet.length).toBeLessThanOrEqual(10);
      expect(fleet[0]).toMatchObject({ healthStatus: 'ACTIVE', model: expect.stringContaining('SoftHSM') });
    });
    it('refuses a body without requestMetadata, or with it empty', async () => {
      expectError(await send('health', {}), 'ValidationException', 400);
      expectError(await send('health', { requestMetadata: {} }), 'ValidationException', 400);
    });
    it('refuses an unknown access key id, a wrong secret and a wrong URI prefix', async () => {
      expectError(await send('health', healthBody(), { accessKeyId: `INVALID${credential.accessKeyId}`.slice(0, 30) }), 'AuthenticationFailedException', 401);
      expectError(await send('health', healthBody(), { secretAccessKey: `Invalid${credential.secretAccessKey}` }), 'AuthenticationFailedException', 401);
      expectError(await send('health', healthBody(), { prefix: `${PREFIX}/invalid` }), 'InvalidUriPathException', 404);
    });
  });

  describe('GetKeyMetadata', () => {
    it('describes an AES-256 key for DescribeKey and CreateKey', async () => {
      for (const operation of ['DescribeKey', 'CreateKey']) {
        const reply = await send(`keys/${KEY}/metadata`, { requestMetadata: metadata(operation) });
        expect(reply.status).toBe(200);
        expect(reply.json).toEqual({ keySpec: 'AES_256', keyUsage: ['ENCRYPT', 'DECRYPT'], keyStatus: 'ENABLED' });
      }
      expect((await send(`keys/${ENCRYPT_ONLY}/metadata`, { requestMetadata: metadata('CreateKey') })).json.keyUsage).toEqual(['ENCRYPT']);
      expect((await send(`keys/${IMPOTENT}/metadata`, { requestMetadata: metadata('CreateKey') })).json.keyUsage).toEqual([]);
    });
    it('refuses missing or empty requestMetadata, unknown keys, bad credentials and a wrong prefix', async () => {
      expectError(await send(`keys/${KEY}/metadata`, {}), 'ValidationException', 400);
      expectError(await send(`keys/${KEY}/metadata`, { requestMetadata: {} }), 'ValidationException', 400);
      expectError(await send('keys/non_existing_key/metadata', { requestMetadata: metadata('DescribeKey') }), 'KeyNotFoundException', 404);
      expectError(await send(`keys/${KEY}/metadata`, { requestMetadata: metadata('DescribeKey') }, { accessKeyId: 'INVALIDAAAAAAAAAAAAAAAAAAA' }), 'AuthenticationFailedException', 401);
      expectError(await send(`keys/${KEY}/metadata`, { requestMetadata: metadata('DescribeKey') }, { secretAccessKey: 'x'.repeat(44) }), 'AuthenticationFailedException', 401);
      expectError(await send(`keys/${KEY}/metadata`, { requestMetadata: metadata('DescribeKey') }, { prefix: `${PREFIX}/invalid` }), 'InvalidUriPathException', 404);
    });
  });

  describe('Encrypt and Decrypt', () => {
    it('refuses an unknown key, a missing plaintext, bad credentials and a wrong path', async () => {
      expectError(await send('keys/non_existing_key/encrypt', encryptBody(PLAINTEXT)), 'KeyNotFoundException', 404);
      expectError(await send(`keys/${KEY}/encrypt`, encryptBody(undefined)), 'ValidationException', 400);
      expectError(await send(`keys/${KEY}/encrypt`, encryptBody(PLAINTEXT), { accessKeyId: 'INVALIDAAAAAAAAAAAAAAAAAAA' }), 'AuthenticationFailedException', 401);
      expectError(await send(`keys/${KEY}/encrypt`, encryptBody(PLAINTEXT), { secretAccessKey: 'Invalid' + credential.secretAccessKey }), 'AuthenticationFailedException', 401);
      expectError(await send(`keys/${KEY}/encrypt`, encryptBody(PLAINTEXT), { prefix: `${PREFIX}/invalid` }), 'InvalidUriPathException', 404);
    });

    it('round-trips without AAD and with the same AAD; a missing or different AAD is InvalidCiphertextException', async () => {
      const plain = await send(`keys/${KEY}/encrypt`, encryptBody(b64('Hello World!')));
      expect(plain.status).toBe(200);
      expect(Buffer.from(plain.json.ciphertext as string, 'base64')).toHaveLength(12);
      expect(Buffer.from(plain.json.initializationVector as string, 'base64')).toHaveLength(12);
      expect(Buffer.from(plain.json.authenticationTag as string, 'base64')).toHaveLength(16);
      expect(plain.json.ciphertextMetadata).toBeUndefined();
      expect((await send(`keys/${KEY}/decrypt`, decryptBody(plain.json))).json).toEqual({ plaintext: b64('Hello World!') });

      const withAad = await send(`keys/${KEY}/encrypt`, encryptBody(PLAINTEXT, AAD));
      expect((await send(`keys/${KEY}/decrypt`, decryptBody(withAad.json, AAD))).json.plaintext).toBe(PLAINTEXT);
      expectError(await send(`keys/${KEY}/decrypt`, decryptBody(withAad.json)), 'InvalidCiphertextException', 400);
      expectError(await send(`keys/${KEY}/decrypt`, decryptBody(withAad.json, AAD2)), 'InvalidCiphertextException', 400);
      const tampered = { ...decryptBody(withAad.json, AAD), ciphertextMetadata: b64('v2') };
      expectError(await send(`keys/${KEY}/decrypt`, tampered), 'InvalidCiphertextException', 400);
    });

    it('returns a ciphertextDataIntegrityValue that is SHA-256 over AAD, IV, ciphertext and tag', async () => {
      for (const aad of [AAD, undefined]) {
        const reply = await send(`keys/${KEY}/encrypt`, encryptBody(b64('Hello World!'), aad, true));
        expect(reply.status).toBe(200);
        const parts = ['initializationVector', 'ciphertext', 'authenticationTag'].map((f) => Buffer.from(reply.json[f] as string, 'base64'));
        const expected = createHash('sha256')
          .update(Buffer.concat([aad ? Buffer.from(aad, 'base64') : Buffer.alloc(0), ...parts]))
          .digest('base64');
        expect(reply.json.ciphertextDataIntegrityValue).toBe(expected);
        expect((await send(`keys/${KEY}/decrypt`, decryptBody(reply.json, aad))).json.plaintext).toBe(b64('Hello World!'));
      }
    });

    it('takes 4 KiB of plaintext with 8 KiB of AAD, and 4300 bytes, the specification minimum', async () => {
      for (const size of [4096, 4300]) {
        const plaintext = b64(randomBytes(size));
        const aad = b64(randomBytes(8192));
        const reply = await send(`keys/${KEY}/encrypt`, encryptBody(plaintext, aad));
        expect(reply.status, reply.text).toBe(200);
        expect((await send(`keys/${KEY}/decrypt`, decryptBody(reply.json, aad))).json.plaintext).toBe(plaintext);
      }
    });

    it('follows the keys\' usage: encrypt-only, decrypt-only and no-usage keys', async () => {
      const enc = await send(`keys/${ENCRYPT_ONLY}/encrypt`, encryptBody(PLAINTEXT));
      expect(enc.status).toBe(200);
      expectError(await send(`keys/${ENCRYPT_ONLY}/decrypt`, decryptBody(enc.json)), 'InvalidKeyUsageException', 400);
      const encAad = await send(`keys/${ENCRYPT_ONLY}/encrypt`, encryptBody(PLAINTEXT, AAD));
      expectError(await send(`keys/${ENCRYPT_ONLY}/decrypt`, decryptBody(encAad.json, AAD)), 'InvalidKeyUsageException', 400);
      // A CDIV needs a test decryption, which an encrypt-only key cannot do.
      expectError(await send(`keys/${ENCRYPT_ONLY}/encrypt`, encryptBody(PLAINTEXT, AAD, true)), 'InvalidKeyUsageException', 400);
      expectError(await send(`keys/${ENCRYPT_ONLY}/encrypt`, encryptBody(PLAINTEXT, undefined, true)), 'InvalidKeyUsageException', 400);
      for (const key of [DECRYPT_ONLY, IMPOTENT]) {
        expectError(await send(`keys/${key}/encrypt`, encryptBody(PLAINTEXT, AAD)), 'InvalidKeyUsageException', 400);
        expectError(await send(`keys/${key}/encrypt`, encryptBody(PLAINTEXT)), 'InvalidKeyUsageException', 400);
        expectError(await send(`keys/${key}/encrypt`, encryptBody(PLAINTEXT, AAD, true)), 'InvalidKeyUsageException', 400);
        expectError(await send(`keys/${key}/encrypt`, encryptBody(PLAINTEXT, undefined, true)), 'InvalidKeyUsageException', 400);
      }
    });
  });
});

describe('what else a proxy on the internet gets', () => {
  it('answers anything but POST with 405', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await fetch(url('health'), { method });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(JSON.parse(await response.text()).errorName).toBe('ValidationException');
    }
  });

  it('refuses unsigned requests, a signature for another service, and an old signing date', async () => {
    const unsigned = await fetch(url('health'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(healthBody()) });
    expect(unsigned.status).toBe(401);
    expect(JSON.parse(await unsigned.text()).errorName).toBe('AuthenticationFailedException');
    expectError(await post('health', healthBody(), { service: 'kms' }), 'AuthenticationFailedException', 401);
    expectError(await post('health', healthBody(), { signer: 'smithy', signingDate: new Date(Date.now() - 10 * 60_000) }), 'AuthenticationFailedException', 401);
  });

  it('answers malformed paths and bodies with the specification errors, never a 500', async () => {
    // (curl does not double-encode a percent-encoded path as SigV4 does for services other than S3.)
    expectError(await post('keys/bad%20id/metadata', { requestMetadata: metadata('DescribeKey') }, { signer: 'smithy' }), 'InvalidUriPathException', 404);
    expectError(await post(`keys/${'k'.repeat(129)}/metadata`, { requestMetadata: metadata('DescribeKey') }), 'InvalidUriPathException', 404);
    expectError(await post(`keys/${KEY}/rotate`, { requestMetadata: metadata('DescribeKey') }), 'InvalidUriPathException', 404);
    expectError(await post('keys', {}), 'InvalidUriPathException', 404);
    expectError(await post('health', '{"requestMetadata":'), 'ValidationException', 400);
    expectError(await post('health', '[1,2]'), 'ValidationException', 400);
    expectError(await post(`keys/${KEY}/encrypt`, { ...encryptBody(PLAINTEXT), plaintext: 'A'.repeat(70_000) }), 'ValidationException', 400);
    expectError(await post(`keys/${KEY}/decrypt`, { ...decryptBody({ ciphertext: 'AA==', initializationVector: b64(Buffer.alloc(12)), authenticationTag: b64(Buffer.alloc(16)) }) }), 'InvalidCiphertextException', 400);
  });

  it("never reaches hsmkms's own token keys, whatever the label", async () => {
    for (const label of ['hsmkms-seal-key', 'hsmkms-domain-key']) {
      expectError(await post(`keys/${label}/metadata`, { requestMetadata: metadata('DescribeKey') }), 'KeyNotFoundException', 404);
      expectError(await post(`keys/${label}/encrypt`, encryptBody(PLAINTEXT)), 'KeyNotFoundException', 404);
    }
  });

  it('accepts a second credential for the same prefix (rotation), and refuses a third', async () => {
    const second = await createXksCredential(server.app.store, server.app.backend, `/${PREFIX}/`, new Date());
    expect(second.uriPrefix).toBe(PREFIX);
    expect(second.accessKeyId).toMatch(/^[A-Z2-7]{26}$/);
    expect(second.secretAccessKey).toMatch(/^[A-Za-z0-9+/=]{43,64}$/);
    expect((await post('health', healthBody(), { accessKeyId: second.accessKeyId, secretAccessKey: second.secretAccessKey })).status).toBe(200);
    await expect(createXksCredential(server.app.store, server.app.backend, PREFIX, new Date())).rejects.toMatchObject({ type: 'LimitExceededException' });
  });

  it('decrypts ciphertexts that aws-kms-xks-proxy made with its digest framing of the AAD', async () => {
    const aad = Buffer.from('legacy context');
    const made = await keys.encrypt(KEY, Buffer.from('from the old proxy'), legacyAadInput(aad, undefined));
    const reply = await post(`keys/${KEY}/decrypt`, decryptBody({ ciphertext: b64(made.ciphertext), initializationVector: b64(made.iv), authenticationTag: b64(made.tag) }, b64(aad)));
    expect(Buffer.from(reply.json.plaintext as string, 'base64').toString()).toBe('from the old proxy');
  });

  it('logs request metadata for every call, and never a plaintext', async () => {
    const secret = b64('never in a log');
    const reply = await post(`keys/${KEY}/encrypt`, encryptBody(secret));
    await post(`keys/${KEY}/decrypt`, decryptBody(reply.json));
    const logs = server.logs();
    expect(logs).toContain('"xksOperation":"Encrypt"');
    expect(logs).toContain('"kmsOperation":"Decrypt"');
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(credential.secretAccessKey);
  });
});
