/**
 * withDeadline (src/core/deadline.ts): an answer that arrived while the event loop was busy is an
 * answer, not a timeout — the change feed's check and every request deadline rely on it, so that
 * a stall of the whole process (CPU starvation, a long synchronous task) is not taken for a dead
 * database.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { withDeadline } from '../../src/core/deadline.js';

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('withDeadline', () => {
  it('takes an answer that came in while the event loop was blocked past the deadline', async () => {
    const server = createServer((socket) => socket.end('pong'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      const answer = once(socket, 'data').then(([data]) => String(data));
      // The reply reaches the socket while the loop is blocked; the timer is due by then too.
      const result = withDeadline(answer, Date.now() + 20, () => new Error('deadline passed'));
      busy(300);
      await expect(result).resolves.toBe('pong');
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('fails with the given error when no answer comes, and tells `late` if it comes afterwards', async () => {
    let finish: (v: string) => void = () => undefined;
    const work = new Promise<string>((resolve) => (finish = resolve));
    let lateCalls = 0;
    await expect(withDeadline(work, Date.now() + 20, () => new Error('deadline passed'), () => lateCalls++)).rejects.toThrow('deadline passed');
    finish('too late');
    await work;
    await new Promise((r) => setImmediate(r));
    expect(lateCalls).toBe(1);
  });

  it('does not call `late` for work that finished in time', async () => {
    let lateCalls = 0;
    await expect(withDeadline(Promise.resolve(7), Date.now() + 1_000, () => new Error('x'), () => lateCalls++)).resolves.toBe(7);
    await new Promise((r) => setTimeout(r, 10));
    expect(lateCalls).toBe(0);
  });
});
