/**
 * Slow clients cannot keep connections: request, headers, idle and keep-alive timeouts on a
 * real listening socket. Deadlines are scaled down (hundreds of ms) so the tests are quick;
 * the assertions leave room for a loaded machine.
 */
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_TIMEOUTS, resolveTimeouts } from '../../src/http/timeouts.js';
import { createHarness, signedHeaders, type Harness } from './support.js';
import { trickle } from '../support/slow-client.js';

const timeouts = { requestMs: 1200, headersMs: 600, idleMs: 2000, keepAliveMs: 500 };

// The same deadlines on a server fastify builds and on one it is handed (serverFactory, as for
// HTTPS with the key in the HSM), to which fastify itself applies none of them.
for (const made of ['by fastify', 'by a server factory'] as const) {
  describe(`HTTP timeouts, server made ${made}`, () => {
    let h: Harness;
    let port: number;
    beforeAll(async () => {
      h = await createHarness({ timeouts, ...(made === 'by fastify' ? {} : { serverFactory: (handler, options) => createServer(options, handler) }) });
      await h.server.listen({ host: '127.0.0.1', port: 0 });
      port = (h.server.server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await h.close();
    });

    /** Opens a connection; resolves `closed` with the time it took the server to end it and what it sent. */
    function open(): { socket: Socket; closed: Promise<{ afterMs: number; received: string }> } {
      const socket = connect(port, '127.0.0.1');
      const started = Date.now();
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      const closed = new Promise<{ afterMs: number; received: string }>((resolve) => {
        socket.on('close', () => resolve({ afterMs: Date.now() - started, received }));
        socket.on('error', () => undefined);
      });
      return { socket, closed };
    }

    async function requestHead(body: string): Promise<string> {
      const headers = await signedHeaders({ target: 'TrentService.GenerateRandom', body, accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey, host: `127.0.0.1:${port}` });
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
      return `POST / HTTP/1.1\r\n${lines.join('\r\n')}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    }

    it('closes a connection whose body trickles in one byte at a time (request timeout)', async () => {
      const body = JSON.stringify({ NumberOfBytes: 8, Padding: 'x'.repeat(200) });
      const { socket, closed } = open();
      socket.write(await requestHead(body));
      trickle(socket, body, 100); // ~20 s to send it all
      const { afterMs, received } = await closed;
      expect(afterMs).toBeGreaterThanOrEqual(timeouts.requestMs - 100);
      expect(afterMs).toBeLessThan(8000);
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
    });

    it('closes a connection whose headers trickle in (headers timeout)', async () => {
      const { socket, closed } = open();
      trickle(socket, await requestHead('{}'), 100);
      const { afterMs } = await closed;
      expect(afterMs).toBeGreaterThanOrEqual(timeouts.headersMs - 100);
      expect(afterMs).toBeLessThan(8000);
    });

    it('closes an idle keep-alive connection after a request (keep-alive timeout), and serves requests until then', async () => {
      const { socket, closed } = open();
      socket.write(await requestHead('{}'));
      socket.write('{}');
      const { afterMs, received } = await closed;
      expect(received).toMatch(/^HTTP\/1\.1 200 /);
      expect(afterMs).toBeGreaterThanOrEqual(timeouts.keepAliveMs - 100);
      expect(afterMs).toBeLessThan(6000);
    });

    it('closes a connection that never sends anything', async () => {
      const { closed } = open();
      const { afterMs } = await closed;
      expect(afterMs).toBeLessThan(8000);
    });
  });
}

describe('resolveTimeouts', () => {
  it('fills in defaults and refuses combinations Node would reject', () => {
    expect(resolveTimeouts()).toEqual(DEFAULT_HTTP_TIMEOUTS);
    // A short request timeout alone brings the headers default down with it.
    expect(resolveTimeouts({ requestMs: 5000 })).toEqual({ ...DEFAULT_HTTP_TIMEOUTS, requestMs: 5000, headersMs: 5000 });
    expect(resolveTimeouts({ requestMs: 5000, headersMs: undefined })).toEqual({ ...DEFAULT_HTTP_TIMEOUTS, requestMs: 5000, headersMs: 5000 });
    expect(() => resolveTimeouts({ requestMs: 1000, headersMs: 2000 })).toThrowError(/must not exceed the request timeout/);
    expect(() => resolveTimeouts({ idleMs: 0 })).toThrowError(/positive/);
    expect(() => resolveTimeouts({ keepAliveMs: 1.5 })).toThrowError(/whole number/);
  });
});
