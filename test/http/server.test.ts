/** The AWS wire protocol through fastify's inject(): every protocol and authentication error. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { buildMetricsServer } from '../../src/http/metrics-server.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Logger } from '../../src/core/ports.js';
import { createHarness, FIXED_RANDOM, KEY_ARN, signedHeaders, type Harness } from './support.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function call(target: string | undefined, body: string, extra: Partial<Parameters<typeof signedHeaders>[0]> = {}) {
  const headers = await signedHeaders({ target, body, accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey, ...extra });
  return h.server.inject({ method: 'POST', url: '/', headers, payload: body });
}

function expectError(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, type: string, message?: string) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toBe('application/x-amz-json-1.1');
  expect(String(res.headers['x-amzn-requestid'])).toMatch(UUID);
  const parsed = JSON.parse(res.body) as { __type: string; message: string };
  expect(parsed.__type).toBe(type);
  if (message !== undefined) expect(parsed.message).toBe(message);
  expect(res.body).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
  return parsed;
}

describe('successful calls', () => {
  it('runs the operation named by X-Amz-Target and answers in awsJson1_1', async () => {
    const res = await call('TrentService.GenerateRandom', JSON.stringify({ NumberOfBytes: 8 }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(String(res.headers['x-amzn-requestid'])).toMatch(UUID);
    expect(JSON.parse(res.body)).toEqual({ Plaintext: FIXED_RANDOM.subarray(0, 8).toString('base64') });
  });

  it('accepts application/json as AWS does, and an empty body as {}', async () => {
    const res = await call('TrentService.GenerateRandom', '{}', { contentType: 'application/json; charset=utf-8' });
    expect(res.statusCode).toBe(200);
    const empty = await call('TrentService.GenerateRandom', '');
    expect(empty.statusCode).toBe(200);
  });

  it('gives every response its own request id', async () => {
    const a = await call('TrentService.GenerateRandom', '{}');
    const b = await call('TrentService.GenerateRandom', '{}');
    expect(a.headers['x-amzn-requestid']).not.toBe(b.headers['x-amzn-requestid']);
  });
});

describe('protocol errors', () => {
  it('UnknownOperationException for an unknown or missing target', async () => {
    expectError(await call('TrentService.Frobnicate', '{}'), 400, 'UnknownOperationException');
    expectError(await call('OtherService.GenerateRandom', '{}'), 400, 'UnknownOperationException');
    expectError(await call(undefined, '{}'), 400, 'UnknownOperationException');
  });

  it('SerializationException for malformed JSON and for JSON that is not an object', async () => {
    expectError(await call('TrentService.GenerateRandom', '{"NumberOfBytes": '), 400, 'SerializationException', 'The request body is not valid JSON.');
    for (const body of ['[]', '42', 'null', '"x"'])
      expectError(await call('TrentService.GenerateRandom', body), 400, 'SerializationException', 'The request body must be a JSON object.');
  });

  it('SerializationException for a body that is not JSON at all', async () => {
    expectError(await call('TrentService.GenerateRandom', 'a=b', { contentType: 'application/x-www-form-urlencoded' }), 400, 'SerializationException');
  });

  it('refuses a body past the limit with a clear message', async () => {
    const body = JSON.stringify({ Plaintext: 'A'.repeat(70 * 1024) });
    const res = await call('TrentService.GenerateRandom', body);
    expectError(res, 413, 'ValidationException', 'The request body is larger than the 65536-byte limit.');
  });

  it('UnknownOperationException for other paths', async () => {
    expectError(await h.server.inject({ method: 'GET', url: '/nothing' }), 404, 'UnknownOperationException');
  });
});

describe('authentication errors', () => {
  it('MissingAuthenticationTokenException (403) without Authorization', async () => {
    const res = await h.server.inject({
      method: 'POST',
      url: '/',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.GenerateRandom' },
      payload: '{}',
    });
    expectError(res, 403, 'MissingAuthenticationTokenException', 'Request is missing Authentication Token');
  });

  it('UnrecognizedClientException for an unknown access key', async () => {
    const res = await call('TrentService.GenerateRandom', '{}', { accessKeyId: 'AKIAUNKNOWNUNKNOWN00' });
    expectError(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  it('an unknown access key id is logged cut to an access key id\'s 128 characters, however long the caller made it', async () => {
    const long = `AKIA${'Q'.repeat(12_000)}`;
    const res = await call('TrentService.GenerateRandom', '{}', { accessKeyId: long });
    expectError(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const line = h.logs().split('\n').find((l) => l.includes('unknown access key') && l.includes('AKIAQQQQ'));
    expect(line).toBeDefined();
    expect(line).toContain(`${long.slice(0, 128)}…`);
    expect(line!.length).toBeLessThan(1_000);
  });

  it('an unknown access key id is logged with C1 controls (a header byte 0x9B is a terminal\'s CSI) escaped', async () => {
    const evil = 'AKIAEVIL\u009b2J\u0085';
    const res = await call('TrentService.GenerateRandom', '{}', { accessKeyId: evil });
    expectError(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const line = h.logs().split('\n').find((l) => l.includes('unknown access key') && l.includes('AKIAEVIL'));
    expect(line).toContain('"accessKeyId":"AKIAEVIL\\u009b2J\\u0085"');
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('InvalidSignatureException with AWS wording for a wrong secret or a tampered body', async () => {
    const message =
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
    expectError(await call('TrentService.GenerateRandom', '{}', { secretAccessKey: 'wrong' }), 400, 'InvalidSignatureException', message);
    const headers = await signedHeaders({ target: 'TrentService.GenerateRandom', body: '{"NumberOfBytes":1}', accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey });
    const res = await h.server.inject({ method: 'POST', url: '/', headers, payload: '{"NumberOfBytes":2}' });
    expectError(res, 400, 'InvalidSignatureException', message);
  });

  it('InvalidSignatureException for a tampered target header', async () => {
    const headers = await signedHeaders({ target: 'TrentService.GenerateRandom', body: '{}', accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey });
    headers['x-amz-target'] = 'TrentService.Decrypt';
    expectError(await h.server.inject({ method: 'POST', url: '/', headers, payload: '{}' }), 400, 'InvalidSignatureException');
  });

  it('InvalidSignatureException for the wrong region or service in the scope', async () => {
    expectError(
      await call('TrentService.GenerateRandom', '{}', { region: 'us-east-1' }),
      400,
      'InvalidSignatureException',
      "Credential should be scoped to a valid region, not 'us-east-1'. ",
    );
    expectError(
      await call('TrentService.GenerateRandom', '{}', { service: 'sts' }),
      400,
      'InvalidSignatureException',
      "Credential should be scoped to correct service: 'kms'. ",
    );
  });

  it('InvalidSignatureException for clock skew beyond five minutes, and accepts less', async () => {
    const signingDate = new Date(h.now.value.getTime() - 6 * 60_000);
    const parsed = expectError(await call('TrentService.GenerateRandom', '{}', { signingDate }), 400, 'InvalidSignatureException');
    expect(parsed.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    const future = new Date(h.now.value.getTime() + 6 * 60_000);
    expect(expectError(await call('TrentService.GenerateRandom', '{}', { signingDate: future }), 400, 'InvalidSignatureException').message).toMatch(
      /^Signature not yet current/,
    );
    const fine = await call('TrentService.GenerateRandom', '{}', { signingDate: new Date(h.now.value.getTime() - 4 * 60_000) });
    expect(fine.statusCode).toBe(200);
  });

  it('refuses a target or media type added outside SignedHeaders: a captured request cannot be replayed as another operation', async () => {
    const message = (header: string) => `'${header}' must be a 'SignedHeader' in the AWS Authorization.`;
    h.audit.length = 0;
    // Signed with no target at all, then resent naming an operation.
    expectError(
      await call(undefined, '{}', { unsigned: { 'x-amz-target': 'TrentService.Decrypt' } }),
      400,
      'InvalidSignatureException',
      message('X-Amz-Target'),
    );
    // Signed for one operation without listing the target, then resent as another.
    expectError(
      await call(undefined, '{}', { unsigned: { 'x-amz-target': 'TrentService.GenerateRandom' } }),
      400,
      'InvalidSignatureException',
      message('X-Amz-Target'),
    );
    expectError(
      await call('TrentService.GenerateRandom', '{}', { unsigned: { 'content-type': 'application/x-amz-json-1.1' } }),
      400,
      'InvalidSignatureException',
      message('Content-Type'),
    );
    expect(h.audit).toHaveLength(0); // no operation ran
  });

  it('UnrecognizedClientException for a session token: there are no temporary credentials', async () => {
    // Signed with the token in SignedHeaders, exactly as an SDK with STS credentials does.
    const signer = new SignatureV4({
      credentials: { accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey, sessionToken: 'FQoGZXIvYXdzE' },
      region: 'eu-west-3',
      service: 'kms',
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'http:',
      hostname: 'localhost',
      path: '/',
      headers: { host: 'localhost:80', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.GenerateRandom' },
      body: '{}',
    });
    expect(signed.headers['x-amz-security-token']).toBe('FQoGZXIvYXdzE');
    const res = await h.server.inject({ method: 'POST', url: '/', headers: signed.headers, payload: '{}' });
    expectError(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  it('refuses an X-Amz-Date with a field out of range instead of rolling it over into another day', async () => {
    // Hour 46 of the day before would roll over into today, inside the skew window.
    const now = h.now.value;
    const yesterday = new Date(now.getTime() - 86_400_000);
    const day = yesterday.toISOString().slice(0, 10).replace(/-/g, '');
    const hour = 24 + now.getUTCHours();
    const rolled = `${day}T${hour}${now.toISOString().slice(14, 16)}${now.toISOString().slice(17, 19)}Z`;
    const headers = await signedHeaders({ target: 'TrentService.GenerateRandom', body: '{}', accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey, signingDate: now });
    headers['x-amz-date'] = rolled;
    const parsed = expectError(await h.server.inject({ method: 'POST', url: '/', headers, payload: '{}' }), 400, 'IncompleteSignatureException');
    expect(parsed.message).toBe(`Date must be in ISO-8601 'basic format'. Got '${rolled}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  });

  it('authenticates before revealing whether an operation exists', async () => {
    const res = await h.server.inject({
      method: 'POST',
      url: '/',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Nope' },
      payload: '{}',
    });
    expectError(res, 403, 'MissingAuthenticationTokenException');
  });
});

describe('operation errors and the dispatcher', () => {
  it('passes a KmsError through with its name, message and status', async () => {
    expectError(await call('TrentService.DescribeKey', '{"KeyId":"alias/none"}'), 400, 'NotFoundException', "Key 'alias/none' does not exist");
  });

  it('turns an HsmError into KMSInternalException; the CKR code goes to the log only', async () => {
    const res = await call('TrentService.Encrypt', JSON.stringify({ KeyId: KEY_ARN, Plaintext: 'c2VjcmV0' }));
    const parsed = expectError(res, 500, 'KMSInternalException');
    expect(parsed.message).not.toMatch(/CKR|C_Encrypt/);
    expect(h.logs()).toContain('CKR_DEVICE_ERROR');
    expect(h.logs()).toContain('C_EncryptInit');
  });

  it('turns a bug into KMSInternalException without its message or stack', async () => {
    const parsed = expectError(await call('TrentService.CreateKey', '{}'), 500, 'KMSInternalException');
    expect(parsed.message).not.toContain('reading');
  });

  it('records the client address and user agent; X-Forwarded-For only from a trusted proxy', async () => {
    h.audit.length = 0;
    const headers = await signedHeaders({ target: 'TrentService.GenerateRandom', body: '{}', accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey });
    await h.server.inject({ method: 'POST', url: '/', headers: { ...headers, 'x-forwarded-for': '203.0.113.9', 'user-agent': 'probe/1.0' }, payload: '{}', remoteAddress: '10.0.0.2' });
    expect(h.audit[0]).toMatchObject({ sourceIp: '10.0.0.2', userAgent: 'probe/1.0' });

    const behindProxy = await createHarness({ trustProxy: '10.0.0.2' });
    try {
      const signed = await signedHeaders({ target: 'TrentService.GenerateRandom', body: '{}', accessKeyId: behindProxy.accessKeyId, secretAccessKey: behindProxy.secretAccessKey });
      await behindProxy.server.inject({ method: 'POST', url: '/', headers: { ...signed, 'x-forwarded-for': '203.0.113.9' }, payload: '{}', remoteAddress: '10.0.0.2' });
      expect(behindProxy.audit[0]?.sourceIp).toBe('203.0.113.9');
    } finally {
      await behindProxy.close();
    }
  });

  it('records one audit event per call, without plaintext or ciphertext', async () => {
    h.audit.length = 0;
    await call('TrentService.Decrypt', JSON.stringify({ CiphertextBlob: 'QUJDRA==', EncryptionContext: { a: 'b' } }));
    await call('TrentService.DescribeKey', JSON.stringify({ KeyId: KEY_ARN }));
    expect(h.audit).toHaveLength(2);
    const [ok, failed] = h.audit;
    expect(ok).toMatchObject({ eventName: 'Decrypt', principalArn: 'arn:aws:iam::111122223333:user/alice', resources: [KEY_ARN] });
    expect(ok!.requestParameters).toEqual({ EncryptionContext: { a: 'b' } });
    expect(ok!.errorCode).toBeUndefined();
    expect(String(ok!.requestId)).toMatch(UUID);
    expect(failed).toMatchObject({ eventName: 'DescribeKey', errorCode: 'NotFoundException', resources: [KEY_ARN] });
  });
});

describe('health and metrics', () => {
  it('GET /health answers 200 when the token answers, 503 otherwise, without details', async () => {
    const ok = await h.server.inject({ method: 'GET', url: '/health' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok' });
    h.health.ok = false;
    try {
      const down = await h.server.inject({ method: 'GET', url: '/health' });
      expect(down.statusCode).toBe(503);
      expect(down.body).not.toContain('CKR');
    } finally {
      h.health.ok = true;
    }
  });

  it('does not serve /metrics on the API listener: it has its own (--metrics-listen)', async () => {
    expectError(await h.server.inject({ method: 'GET', url: '/metrics' }), 404, 'UnknownOperationException');
  });

  it('GET /metrics on the metrics listener counts calls by operation and outcome, with bounded labels', async () => {
    await call('TrentService.GenerateRandom', '{}');
    await call('TrentService.DescribeKey', '{}');
    await call('TrentService.NoSuchOperationAtAll', '{}');
    const metricsServer = await buildMetricsServer({ metrics: h.metrics, logger: createLogger({ level: 'silent' }) as unknown as Logger });
    const res = await metricsServer.inject({ method: 'GET', url: '/metrics' });
    expect((await metricsServer.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
    expect((await metricsServer.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(404);
    await metricsServer.close();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/hsmkms_requests_total\{operation="GenerateRandom",outcome="ok"\} \d+/);
    expect(res.body).toMatch(/hsmkms_requests_total\{operation="DescribeKey",outcome="NotFoundException"\} \d+/);
    expect(res.body).toMatch(/hsmkms_requests_total\{operation="unknown",outcome="UnknownOperationException"\} \d+/);
    expect(res.body).not.toContain('NoSuchOperationAtAll');
    expect(res.body).toMatch(/hsmkms_request_duration_seconds_bucket\{le="0.001",operation="GenerateRandom"\}/);
    expect(res.body).toContain('hsmkms_backend_pool{stat="sessionsIdle"} 7');
  });
});

describe('logs', () => {
  it('write one request line per call, bound to the request id the client got', async () => {
    const res = await call('TrentService.GenerateRandom', '{"NumberOfBytes":16}');
    expect(res.statusCode).toBe(200);
    const requestId = String(res.headers['x-amzn-requestid']);
    // Lines are handed on at the end of the event-loop turn.
    await new Promise((resolve) => setImmediate(resolve));
    const lines = h
      .logs()
      .split('\n')
      .filter((line) => line.includes(requestId))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, service: 'hsmkms', reqId: requestId, operation: 'GenerateRandom', outcome: 'ok', status: 200, msg: 'request' });
    expect(typeof lines[0]!.principal).toBe('string');
    expect(typeof lines[0]!.ms).toBe('number');
  });

  it('never contain secrets, signatures, plaintext or request bodies', async () => {
    const headers = await signedHeaders({ target: 'TrentService.Decrypt', body: '{"CiphertextBlob":"U0VDUkVUQk9EWQ=="}', accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey });
    await h.server.inject({ method: 'POST', url: '/', headers, payload: '{"CiphertextBlob":"U0VDUkVUQk9EWQ=="}' });
    const logs = h.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toContain('"operation":"Decrypt"');
    expect(logs).not.toContain(h.secretAccessKey);
    expect(logs).not.toContain(headers.authorization!.split('Signature=')[1]!);
    expect(logs).not.toContain(FIXED_RANDOM.toString('base64'));
    expect(logs).not.toContain('U0VDUkVUQk9EWQ==');
    expect(logs).not.toContain('c2VjcmV0');
  });
});
