/**
 * Malformed, oversized and hostile requests to the surfaces beside the KMS API — the web
 * console, the CA's public endpoints and OCSP, the XKS proxy, the HsmKms.* administration API —
 * each get a bounded, clear 4xx, never a 500 or a hang. Each case here was a probe; those that
 * found a 500 or an unshaped answer are regression tests for the fix.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCa } from '../../src/ca/index.js';
import { HsmKmsClient, HsmKmsError } from '../../src/client/hsmkms-client.js';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
let admin: HsmKmsClient;
beforeAll(async () => {
  server = await startServer();
  await initCa(server.app.ca, { name: 'probe', subject: 'CN=Probe Root,O=hsmkms tests,C=US', keySpec: 'ECC_NIST_P256', baseUrl: server.endpoint });
  admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
}, 300_000);
afterAll(async () => server?.close());

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** A request as a hostile client sends it: any path bytes, any headers. Bounded: 10 s. */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Answer> {
  const url = new URL(server.endpoint);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, method, path, headers, timeout: 10_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    request.on('timeout', () => request.destroy(new Error(`no answer to ${method} ${path.slice(0, 60)} within 10 s`)));
    request.on('error', reject);
    request.end(body);
  });
}

/** The {"__type","message"} error every surface but XKS answers with. */
function shapedError(answer: Answer): { __type: string; message: string } {
  const parsed = JSON.parse(answer.body) as { __type: string; message: string };
  expect(Object.keys(parsed).sort()).toEqual(['__type', 'message']);
  return parsed;
}

describe('paths that are not valid URLs', () => {
  it.each(['/console/%E0%A4%A', '/ca/%ff/ca.pem', '/ca/probe/ocsp/%ff', '/%zz'])('%s: 400 ValidationException in the AWS shape, not fastify\'s', async (path) => {
    const answer = await send('GET', path);
    expect(answer.status).toBe(400);
    expect(shapedError(answer)).toEqual({ __type: 'ValidationException', message: 'The request path is not a valid URL: check its percent-encoding.' });
  });
});

describe('the CA endpoints', () => {
  it('answer an OCSP POST whose Content-Type cannot be read with a 4xx, not a 500', async () => {
    const answer = await send('POST', '/ca/probe/ocsp', { 'content-type': ';;;' }, 'abc');
    expect(answer.status).toBe(415);
    expect(shapedError(answer)).toEqual({ __type: 'InvalidArgsException', message: 'The request could not be read. Check its Content-Type, framing and Content-Length.' });
    expect(server.logs()).not.toMatch(/Unsupported Media Type[^\n]*"level":50|"level":50[^\n]*Unsupported Media Type/);
  });

  it.each([
    ['GET', '/ca/probe/ocsp/' + 'A'.repeat(3000)],
    ['GET', '/ca/probe/ocsp/' + '*'.repeat(100)],
    ['POST', '/ca/probe/ocsp', { 'content-type': 'application/json' }, '{'],
    ['POST', '/ca/probe/ocsp', { 'content-type': 'application/ocsp-request', 'content-encoding': 'gzip' }, 'not gzip'],
  ] as Array<[string, string, Record<string, string>?, string?]>)('%s %s: OCSP malformedRequest (HTTP 200), as RFC 6960 says', async (method, path, headers, body) => {
    const answer = await send(method, path, headers, body);
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/ocsp-response');
    // OCSPResponse { responseStatus malformedRequest(1) }
    expect(Buffer.from(answer.body, 'latin1').toString('hex')).toBe('30030a0101');
  });

  it('refuse oversized OCSP bodies with 413 and other methods with 404, as JSON', async () => {
    const big = await send('POST', '/ca/probe/ocsp', { 'content-type': 'application/ocsp-request' }, Buffer.alloc(200_000, 0x30));
    expect(big.status).toBe(413);
    expect(shapedError(big).__type).toBe('InvalidArgsException');
    for (const [method, path] of [['DELETE', '/ca/probe/ocsp'], ['POST', '/ca/probe/crl'], ['PUT', '/ca/probe/ca.pem']] as const) {
      const answer = await send(method, path, {}, 'x');
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(shapedError(answer).__type).toBe('UnknownOperationException');
    }
  });
});

describe('the web console route', () => {
  it('serves nothing outside its directory and answers every oddity below 500', async () => {
    for (const path of ['/console/..%2f..%2fpackage.json', '/console/../../package.json', '/console/%2e%2e/%2e%2e/package.json']) {
      const answer = await send('GET', path);
      expect(answer.status, path).toBeLessThan(500);
      expect(answer.body, path).not.toContain('"dependencies"');
    }
    const odd: Array<Record<string, string>> = [{ range: 'bytes=999999-' }, { 'if-none-match': 'x'.repeat(10_000) }, { 'if-modified-since': 'garbage' }, { 'accept-encoding': 'br;q=x, gzip;q=1e999, ' + 'x,'.repeat(2000) }];
    for (const headers of odd) {
      const answer = await send('GET', '/console/', headers);
      expect(answer.status, JSON.stringify(headers).slice(0, 60)).toBeLessThan(500);
    }
    const posted = await send('POST', '/console', { 'content-type': 'text/plain' }, 'x');
    expect(posted.status).toBe(404);
    expect(shapedError(posted).__type).toBe('UnknownOperationException');
  });
});

describe('the XKS proxy', () => {
  it('answers unauthenticated garbage with the specification\'s 4xx errors', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'content-type': 'application/json' }, '['.repeat(50_000)],
      [{ authorization: 'x'.repeat(15_000) }, '{}'],
      [{ authorization: `AWS4-HMAC-SHA256 ${'Credential=,'.repeat(1200)}` }, '{}'],
      [{ 'content-type': ';;;' }, '{}'],
    ];
    for (const [headers, body] of cases) {
      const answer = await send('POST', '/p/kms/xks/v1/keys/k/encrypt', headers, body);
      expect(answer.status, JSON.stringify(headers).slice(0, 60)).toBeGreaterThanOrEqual(400);
      expect(answer.status, JSON.stringify(headers).slice(0, 60)).toBeLessThan(500);
      expect(Object.keys(JSON.parse(answer.body) as object).sort()).toEqual(['errorMessage', 'errorName']);
    }
  });
});

describe('the HsmKms.* administration API', () => {
  const refusal = async (operation: string, input: Record<string, unknown>) => {
    const error = await admin.call(operation, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, operation).toBeInstanceOf(HsmKmsError);
    return error as HsmKmsError & { status?: number };
  };

  it('refuses oversized and malformed input with AWS 4xx errors', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['ListPrincipals', { Limit: 1e12 }, 'ValidationException'],
      ['ListPrincipals', { Marker: 'x'.repeat(100_000) }, 'ValidationException'],
      ['GetPrincipal', { UserName: 'a'.repeat(100_000) }, 'ValidationException'],
      ['CreatePrincipal', { UserName: 'many-tags', Tags: Array(1000).fill({ TagKey: 'k', TagValue: 'v' }) }, 'LimitExceededException'],
      ['PutQuorumRule', { Action: 'kms:DisableKey', MinApprovals: 1, Approvers: Array(100_000).fill('a') }, 'ValidationException'],
      ['PutQuorumRule', { Action: `kms:${'*'.repeat(5000)}Z`, MinApprovals: 1, Approvers: ['a'] }, 'ValidationException'],
      ['ExplainAuthorization', { PrincipalArn: 5, Action: ['x'] }, 'SerializationException'],
      ['ExplainAuthorization', { PrincipalArn: 'arn:aws:iam::111122223333:root', Action: 'kms:Decrypt', Context: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 'v'])) }, 'ValidationException'],
      ['ListApprovalRequests', { Status: 'Nope' }, 'ValidationException'],
      ['ApproveRequest', { ApprovalRequestId: 'x'.repeat(5000) }, 'ValidationException'],
    ];
    for (const [operation, input, type] of cases) {
      const error = await refusal(operation, input);
      expect(error.name, `${operation} ${JSON.stringify(input).slice(0, 80)}`).toBe(type);
    }
  });

  it('does not echo an approval request id that cannot be one (control characters and all)', async () => {
    for (const operation of ['GetApprovalRequest', 'ApproveRequest', 'RejectRequest']) {
      const error = await refusal(operation, { ApprovalRequestId: `\u0000\u001b[31m${'\u0000'.repeat(60)}` });
      expect(error.name).toBe('NotFoundException');
      expect(error.message).toBe('No approval request has that id; approval request ids are ar- followed by 32 hexadecimal digits.');
    }
  });
});
