/**
 * GET /health answers anyone (load balancers ask without credentials), and each check reaches the
 * HSM and the store. A flood of them must not become a flood of HSM calls: checks that arrive
 * while one runs share its answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../support/server.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

describe('GET /health under a flood of anonymous requests', () => {
  it('runs one HSM check for the requests that arrive while it runs, and answers each of them', async () => {
    const backend = server.app.backend as unknown as { health: () => Promise<{ ok: boolean }> };
    const original = backend.health.bind(backend);
    let checks = 0;
    // A slow HSM: each check takes 300 ms (counted, then the real check on the token).
    backend.health = async () => {
      checks++;
      await new Promise((r) => setTimeout(r, 300));
      return original();
    };
    try {
      const replies = await Promise.all(Array.from({ length: 40 }, () => fetch(`${server.endpoint}/health`)));
      expect(replies.map((r) => r.status)).toEqual(Array(40).fill(200));
      expect(await replies[0]!.json()).toEqual({ status: 'ok' });
      expect(checks).toBeLessThanOrEqual(2);
      // A request after the check ended gets a check of its own: health stays current.
      const before = checks;
      expect((await fetch(`${server.endpoint}/health`)).status).toBe(200);
      expect(checks).toBe(before + 1);
    } finally {
      backend.health = original;
    }
  });
});
