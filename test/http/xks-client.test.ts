/**
 * hsmkms's XKS proxy client against proxies that misbehave: garbage, unknown errors, silence,
 * floods, a wrong integrity value, no proxy at all. Each becomes a clear XksProxyCallError, and
 * then the KMS exception AWS's table gives; nothing hangs. (Its requests are checked against a
 * real proxy, hsmkms's own, in test/api/external-key-stores.test.ts.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XksProxyCallError, type XksProxyConnection } from '../../src/core/key-stores/ports.js';
import { connectionCode, cryptoError, storeError } from '../../src/core/key-stores/xks-errors.js';
import { createHttpXksProxies } from '../../src/http/xks-client.js';

type Mode = 'garbage' | 'auth' | 'unknown-error' | 'slow' | 'flood' | 'cdiv' | 'unavailable' | 'bad-fleet' | 'array';
let mode: Mode = 'garbage';
let server: http.Server;
let port = 0;
const seen: http.IncomingHttpHeaders[] = [];

beforeAll(async () => {
  server = http.createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    const json = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    switch (mode) {
      case 'garbage':
        return response.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy</html>');
      case 'auth':
        return json(401, { errorName: 'AuthenticationFailedException' });
      case 'unknown-error':
        return json(500, { error: 'boom' });
      case 'slow':
        return void setTimeout(() => json(200, {}), 1_000).unref();
      case 'flood':
        return response.writeHead(200).end(Buffer.alloc(200_000, 'a'));
      case 'cdiv':
        return json(200, { ciphertext: Buffer.alloc(5).toString('base64'), initializationVector: Buffer.alloc(12).toString('base64'), authenticationTag: Buffer.alloc(16).toString('base64'), ciphertextDataIntegrityValue: 'AAAA' });
      case 'unavailable':
        return json(200, { xksProxyFleetSize: 1, xksProxyVendor: 'x', xksProxyModel: 'x', ekmVendor: 'x', ekmFleetDetails: [{ id: 'a', model: 'm', healthStatus: 'UNAVAILABLE' }] });
      case 'bad-fleet':
        return json(200, { xksProxyFleetSize: 0, ekmFleetDetails: [] });
      case 'array':
        return json(200, [1, 2]);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const credential = { accessKeyId: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', secretAccessKey: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0=' };
const meta = { kmsOperation: 'Encrypt', kmsRequestId: 'r1', awsPrincipalArn: 'arn:aws:iam::111122223333:root', kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/k' };

function client(timeoutMs = 200, endpoint = `http://127.0.0.1:${port}`): XksProxyConnection {
  return createHttpXksProxies({ region: 'eu-west-1', timeoutMs }).connect({ uriEndpoint: endpoint, uriPath: '/tenant/kms/xks/v1' }, credential);
}

async function failure(call: Promise<unknown>): Promise<XksProxyCallError> {
  const error = await call.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(XksProxyCallError);
  return error as XksProxyCallError;
}

describe('the XKS client', () => {
  it('signs with SigV4 for kms-xks-proxy over host;x-amz-date, in the configured region', async () => {
    mode = 'auth';
    const c = client();
    await failure(c.health({ kmsOperation: 'KmsHealthCheck', kmsRequestId: 'x' }));
    await c.close();
    const headers = seen.at(-1)!;
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ABCDEFGHIJKLMNOPQRSTUVWXYZ\/\d{8}\/eu-west-1\/kms-xks-proxy\/aws4_request, SignedHeaders=host;x-amz-date, Signature=[0-9a-f]{64}$/);
    expect(headers['content-type']).toBe('application/json');
  });

  it.each([
    ['garbage', 'INVALID_RESPONSE', 'XksProxyInvalidResponseException', 'XKS_PROXY_INVALID_RESPONSE'],
    ['array', 'INVALID_RESPONSE', 'XksProxyInvalidResponseException', 'XKS_PROXY_INVALID_RESPONSE'],
    ['auth', 'AuthenticationFailedException', 'XksProxyIncorrectAuthenticationCredentialException', 'INVALID_CREDENTIALS'],
    ['unknown-error', 'INVALID_RESPONSE', 'XksProxyInvalidResponseException', 'XKS_PROXY_INVALID_RESPONSE'],
    ['slow', 'TIMED_OUT', 'XksProxyUriUnreachableException', 'XKS_PROXY_TIMED_OUT'],
    ['flood', 'INVALID_RESPONSE', 'XksProxyInvalidResponseException', 'XKS_PROXY_INVALID_RESPONSE'],
    ['bad-fleet', 'INVALID_RESPONSE', 'XksProxyInvalidResponseException', 'XKS_PROXY_INVALID_RESPONSE'],
  ] as const)('turns a proxy answering %s into %s (%s when creating a store, %s when connecting)', async (m, failureName, storeException, code) => {
    mode = m as Mode;
    const c = client();
    const started = Date.now();
    const error = await failure(c.health({ kmsOperation: 'KmsHealthCheck', kmsRequestId: 'x' }));
    expect(Date.now() - started).toBeLessThan(2_000);
    await c.close();
    expect(error.failure).toBe(failureName);
    expect(storeError(error).type).toBe(storeException);
    expect(connectionCode(error)).toBe(code);
    expect(cryptoError(error).type).toBe('KMSInvalidStateException');
  });

  it('reports every key manager UNAVAILABLE as such', async () => {
    mode = 'unavailable';
    const c = client();
    expect(await c.health({ kmsOperation: 'ConnectCustomKeyStore', kmsRequestId: 'x' })).toEqual({ managers: 1, available: 0 });
    await c.close();
  });

  it('refuses a ciphertext whose integrity value is not the one it computes', async () => {
    mode = 'cdiv';
    const c = client();
    const error = await failure(c.encrypt('k', Buffer.from('12345'), Buffer.alloc(32), meta));
    expect(error.failure).toBe('INVALID_RESPONSE');
    expect(error.message).toContain('ciphertextDataIntegrityValue');
    await c.close();
  });

  it('calls a proxy that is not there UNREACHABLE', async () => {
    const idle = http.createServer();
    await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', resolve));
    const closedPort = (idle.address() as AddressInfo).port;
    await new Promise<void>((resolve) => idle.close(() => resolve()));
    const c = client(1_000, `http://127.0.0.1:${closedPort}`);
    const error = await failure(c.health({ kmsOperation: 'KmsHealthCheck', kmsRequestId: 'x' }));
    expect(error.failure).toBe('UNREACHABLE');
    expect(storeError(error).type).toBe('XksProxyUriUnreachableException');
    await c.close();
  });
});
