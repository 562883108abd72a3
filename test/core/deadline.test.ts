/**
 * withDeadline: the work's result while it is in time, DependencyTimeoutException-style errors
 * once it is not. An answer that arrived while the event loop was busy is an answer, not a
 * timeout — the change feed's check and every request deadline rely on it, so that a stall of
 * the whole process (CPU starvation, a long synchronous task) is not taken for a dead database.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withDeadline } from '../../src/core/deadline.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('withDeadline', () => {
  it("gives the work's value or error when it settles in time", async () => {
    await expect(withDeadline(Promise.resolve(7), Date.now() + 1000, () => new Error('late'))).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('boom')), Date.now() + 1000, () => new Error('late'))).rejects.toThrow('boom');
  });

  it('throws expired() once the deadline has passed, never before, and tells `late` when the work ends after it', async () => {
    let lateCalls = 0;
    let finish!: (value: number) => void;
    const work = new Promise<number>((resolve) => (finish = resolve));
    const started = Date.now();
    const deadline = started + 40;
    await expect(withDeadline(work, deadline, () => new Error('expired'), () => lateCalls++)).rejects.toThrow('expired');
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    expect(lateCalls).toBe(0);
    finish(1);
    await sleep(0);
    expect(lateCalls).toBe(1);
  });

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

  it('keeps each call to its own deadline when many share a moment', async () => {
    const now = Date.now();
    const never = new Promise<never>(() => undefined);
    const outcomes = await Promise.allSettled([
      withDeadline(never, now + 30, () => new Error('a')),
      withDeadline(Promise.resolve('b'), now + 30, () => new Error('b late')),
      withDeadline(never, now + 31, () => new Error('c')),
      withDeadline(sleep(5).then(() => 'd'), now + 31, () => new Error('d late')),
    ]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('leaves no timer behind once the work is done: a process does not wait out the deadline', () => {
    const deadline = fileURLToPath(new URL('../../dist/core/deadline.js', import.meta.url));
    const script = `
      import { withDeadline } from ${JSON.stringify(deadline)};
      const started = Date.now();
      await Promise.all([1, 2, 3].map((i) => withDeadline(Promise.resolve(i), Date.now() + 60_000, () => new Error('late'))));
      process.on('exit', () => console.log(Date.now() - started));`;
    const elapsed = Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 }).trim());
    expect(elapsed).toBeLessThan(10_000);
  });
});
