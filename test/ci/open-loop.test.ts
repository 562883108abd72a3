/**
 * The benchmark's open-loop client (ci/bench/open-loop.c through open-loop.mjs): requests leave
 * on schedule whatever the answers do, and each latency counts from when the request was due, so
 * a server that falls behind shows as latency (no coordinated omission). Checked against a local
 * node:http server whose answers are delayed, refused or cut off.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLoop, rawRequest } from '../../ci/bench/open-loop.mjs';

const DELAY_MS = 20;
let server: http.Server;
let url: string;
let dropped = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (req.url === '/drop' && dropped++ % 2 === 0) {
        req.socket.destroy();
        return;
      }
      const status = req.url === '/fail' ? 500 : 200;
      const answer = JSON.stringify({ echo: body, signature: req.headers['x-amz-target'] });
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer), DELAY_MS);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const request = (path = '/') => ({ path, headers: { 'x-amz-target': 'TrentService.Encrypt', 'content-type': 'application/x-amz-json-1.1' }, body: '{"KeyId":"k"}' });

describe('open-loop client', () => {
  it('sends rate × seconds requests and counts each from when it was due', async () => {
    const r = await openLoop(url, request(), { rate: 200, seconds: 0.5 });
    expect(r).toMatchObject({ sent: 100, answered: 100, non2xx: 0, errors: 0 });
    // Every answer was held DELAY_MS by the server.
    expect(r.p50Ms).toBeGreaterThanOrEqual(DELAY_MS);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  });

  it('does not wait for answers before sending: a server slower than the rate shows as latency', async () => {
    // One connection answering every DELAY_MS serves 50/s; 100 are due in 0.5 s. The last
    // is answered ~2 s after the first was due, ~1.5 s after it was itself due. Counted from
    // when each was sent (closed-loop accounting), every latency would be ~DELAY_MS.
    const r = await openLoop(url, request(), { rate: 200, seconds: 0.5, connections: 1 });
    expect(r).toMatchObject({ sent: 100, answered: 100, errors: 0 });
    expect(r.p99Ms).toBeGreaterThan(1000);
    expect(r.sendLateP99Ms).toBeGreaterThan(1000);
  });

  it('counts error answers and connections cut before the answer', async () => {
    const failing = await openLoop(url, request('/fail'), { rate: 100, seconds: 0.2 });
    expect(failing).toMatchObject({ sent: 20, answered: 20, non2xx: 20, errors: 0 });
    const cut = await openLoop(url, request('/drop'), { rate: 100, seconds: 0.2, connections: 4 });
    expect(cut.errors).toBeGreaterThan(0);
    expect(cut.answered + cut.errors).toBe(20);
  });

  it('reuses connections the server closed while idle, each listed once', async () => {
    // A server that closes each connection right after its answer, as one closing idle keep-alive
    // connections does (node:http after 5 s, which a bench run at a low rate meets): at 20/s each
    // connection is closed 50 ms before the next request is due (closing it later raced that
    // request on a loaded machine), and opened again. The client used to list it as idle a second time,
    // one more entry per request, past the end of its list of 64 (heap corruption: the client
    // aborted, "malloc(): corrupted top size").
    const closing = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': 2 }).end('{}', () => req.socket.end());
      });
    });
    await new Promise<void>((r) => closing.listen(0, '127.0.0.1', r));
    try {
      const r = await openLoop(`http://127.0.0.1:${(closing.address() as AddressInfo).port}`, request(), { rate: 20, seconds: 3 });
      expect(r).toMatchObject({ sent: 60, answered: 60, non2xx: 0, errors: 0 });
    } finally {
      closing.closeAllConnections();
      await new Promise<void>((r) => closing.close(() => r()));
    }
  });

  it('replays the request byte for byte, with its own Content-Length', () => {
    const raw = rawRequest('127.0.0.1:9', { path: '/', headers: { Host: 'x', 'content-length': 1, 'x-amz-date': '20261201T000000Z' }, body: 'é' }).toString();
    expect(raw).toBe('POST / HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-amz-date: 20261201T000000Z\r\ncontent-length: 2\r\n\r\né');
  });
});
