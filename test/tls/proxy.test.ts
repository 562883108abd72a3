/**
 * The TLS-terminating reverse proxy: requests and bodies reach the upstream intact, with
 * X-Forwarded-*; responses stream back; connections are kept alive; a dead upstream is a 502.
 * Slow or stalled clients and upstreams lose their connection (handshake, headers, whole
 * request, silence), a stalled upstream is a 504.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHsmHttpsServer, createReverseProxy, createTlsProxy, generateTlsKey, resolveProxyTimeouts, type ReverseProxy } from '../../src/tls/index.js';
import { createTestCa, listen, run, testHsm, uniqueLabel } from './support.js';
import { trickle } from '../support/slow-client.js';

const hsm = testHsm();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-proxy-'));
const caFile = join(dir, 'ca.pem');
let ca: Buffer;
let port = 0;
let deadPort = 0;
/** A proxy with deadlines short enough to watch them act. */
let slowPort = 0;
const closers: Array<() => void> = [];

/** The upstream reports what it received: method, path, headers and a hash of the body. */
const upstream = http.createServer((req, res) => {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  req.on('end', () => {
    // Stalls: no answer at all, or headers and then silence.
    if (req.url === '/hang') return;
    if (req.url === '/hang-mid-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      return;
    }
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16_384, i));
      res.end();
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes', connection: 'keep-alive' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length, sha256: hash.digest('hex') }));
  });
});

beforeAll(async () => {
  const testCa = await createTestCa();
  writeFileSync(caFile, testCa.pem);
  ca = readFileSync(caFile);
  const upstreamPort = await listen(upstream);
  closers.push(() => {
    upstream.close();
    upstream.closeAllConnections();
  });
  const key = generateTlsKey(hsm, uniqueLabel('tls-proxy'), 'ECC_NIST_P256');
  const cert = await testCa.issue(key.spki, ['localhost', '127.0.0.1']);
  const serve = async (proxy: ReverseProxy) => {
    const server = createHsmHttpsServer({ hsm, certificates: [{ keyUri: key.keyUri, cert }] }, proxy.handler);
    closers.push(() => {
      server.close();
      server.closeAllConnections();
      proxy.close();
    });
    return listen(server);
  };
  port = await serve(createReverseProxy(`http://127.0.0.1:${upstreamPort}`));
  const dead = http.createServer();
  const unusedPort = await listen(dead);
  dead.close();
  deadPort = await serve(createReverseProxy(`http://127.0.0.1:${unusedPort}`));
  const slow = createTlsProxy({
    hsm,
    certificates: [{ keyUri: key.keyUri, cert }],
    upstream: `http://127.0.0.1:${upstreamPort}`,
    timeouts: { handshakeMs: 600, headersMs: 600, requestMs: 1500, idleMs: 3000, keepAliveMs: 600, upstreamMs: 600 },
  });
  closers.push(() => slow.close());
  slowPort = await listen(slow.server);
});

afterAll(() => closers.forEach((close) => close()));

function request(options: https.RequestOptions, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, ca, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hsmkms tls proxy', () => {
  it('forwards method, path, query and headers, adding X-Forwarded-For/-Proto/-Host', async () => {
    const res = await request({ path: '/a/b?x=1&y=%20', method: 'GET', headers: { 'x-custom': 'kept', 'x-forwarded-for': '203.0.113.9', host: 'app.example:443' } });
    expect(res.status).toBe(201);
    expect(res.headers['x-upstream']).toBe('yes');
    const seen = JSON.parse(res.body.toString());
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/a/b?x=1&y=%20');
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('app.example:443');
    expect(seen.headers.host).toBe('app.example:443');
  });

  it('streams a large request body through unchanged (chunked and with a length)', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const expected = createHash('sha256').update(body).digest('hex');
    const chunked = JSON.parse((await request({ method: 'POST', path: '/upload' }, body)).body.toString());
    expect(chunked).toMatchObject({ method: 'POST', length: body.length, sha256: expected });
    const sized = JSON.parse((await request({ method: 'PUT', path: '/upload', headers: { 'content-length': String(body.length) } }, body)).body.toString());
    expect(sized).toMatchObject({ method: 'PUT', length: body.length, sha256: expected });
    expect(sized.headers['content-length']).toBe(String(body.length));
  });

  it('streams a large response body back', async () => {
    const res = await request({ path: '/big' });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(64 * 16_384);
    expect(res.body[16_384 * 63]).toBe(63);
  });

  it('keeps the client connection alive across requests', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await request({ path: '/1', agent });
    const second = await request({ path: '/2', agent });
    agent.destroy();
    expect(first.reused).toBe(false);
    expect(second.reused).toBe(true);
    expect(JSON.parse(second.body.toString()).url).toBe('/2');
  });

  it('works with curl over TLS 1.3', async () => {
    const { stdout } = await run('curl', ['-sS', '--cacert', caFile, '--tlsv1.3', '-d', 'hello=world', `https://localhost:${port}/form`]);
    expect(JSON.parse(stdout)).toMatchObject({ method: 'POST', url: '/form', length: 11 });
  });

  it('answers 502 when the upstream is down', async () => {
    const res = await request({ port: deadPort, path: '/' });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toMatch(/Bad gateway/);
  });
});

/** What a raw client got before the server closed on it, and whether it was closed at all (not left hanging). */
function outcome(socket: net.Socket, waitMs = 10_000): Promise<{ closed: boolean; received: string }> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, received });
    }, waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
  });
}

function tlsClient(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: slowPort, servername: 'localhost', ca }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('hsmkms tls proxy: slow clients and upstreams', () => {
  it('closes a connection that never completes its TLS handshake', async () => {
    const socket = net.connect(slowPort, '127.0.0.1');
    // A ClientHello that never finishes: the record header promises more than ever comes.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    expect(await outcome(socket)).toMatchObject({ closed: true });
  });

  it('answers 408 and closes when headers trickle in slower than the headers deadline', async () => {
    const socket = await tlsClient();
    const result = outcome(socket);
    trickle(socket, `GET / HTTP/1.1\r\nHost: localhost\r\n${'X-Slow: ' + 'a'.repeat(200)}\r\n\r\n`, 150);
    const { closed, received } = await result;
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers 408 and closes when a body trickles in past the request deadline, though each byte is on time', async () => {
    const socket = await tlsClient();
    const result = outcome(socket);
    socket.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n');
    trickle(socket, 'b'.repeat(1000), 150);
    const { closed, received } = await result;
    expect(closed).toBe(true);
    expect(received).toMatch(/HTTP\/1\.1 408 /);
  });

  it('closes an idle keep-alive connection after its request', async () => {
    const socket = await tlsClient();
    // Sooner than Node's own keep-alive default (5 s, plus the 1 s Node adds).
    const result = outcome(socket, 5000);
    socket.write('GET /ka HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const { closed, received } = await result;
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 201 /);
  });

  it('answers 504 when the upstream does not answer, and cuts a response the upstream stops sending', async () => {
    const res = await request({ port: slowPort, path: '/hang' });
    expect(res.status).toBe(504);
    expect(res.body.toString()).toMatch(/^Gateway timeout: the upstream sent nothing for 1 s/);
    // Headers and a first chunk came through; then the upstream fell silent: the client's
    // connection is cut, so it cannot take the partial body for a whole one.
    const socket = await tlsClient();
    const cut = outcome(socket);
    socket.write('GET /hang-mid-body HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const { closed, received } = await cut;
    expect(closed).toBe(true);
    expect(received).toMatch(/^HTTP\/1\.1 200 [^]*partial/);
    expect(received).not.toMatch(/\r\n0\r\n\r\n$/);
    // The proxy still serves.
    expect((await request({ port: slowPort, path: '/after' })).status).toBe(201);
  });

  it('checks its timeouts: positive, headers within the request deadline', () => {
    expect(resolveProxyTimeouts({})).toMatchObject({ handshakeMs: 10_000, headersMs: 10_000, requestMs: 300_000, upstreamMs: 60_000 });
    expect(resolveProxyTimeouts({ requestMs: 5000 }).headersMs).toBe(5000);
    expect(() => resolveProxyTimeouts({ headersMs: 20_000, requestMs: 5000 })).toThrow(/must not exceed/);
    expect(() => resolveProxyTimeouts({ upstreamMs: 0 })).toThrow(/upstreamMs/);
  });
});
