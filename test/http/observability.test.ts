/** The logger's redaction and the per-server metrics registry. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

describe('createLogger', () => {
  it('censors authorization headers, secrets, PINs and plaintext even when a caller logs them', () => {
    const lines: string[] = [];
    const logger = createLogger(
      {},
      new Writable({
        write(chunk, _e, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    logger.info({
      req: { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/…, Signature=deadbeef' } },
      secretAccessKey: 'TOP-SECRET-KEY',
      input: { Plaintext: 'cGxhaW50ZXh0', KeyId: 'alias/x' },
      config: { pin: '1234-user-pin' },
    });
    const out = lines.join('');
    expect(out).not.toContain('deadbeef');
    expect(out).not.toContain('TOP-SECRET-KEY');
    expect(out).not.toContain('cGxhaW50ZXh0');
    expect(out).not.toContain('1234-user-pin');
    expect(out).toContain('alias/x');
    expect(out).toContain('[redacted]');
  });
});

describe('createMetrics', () => {
  it('keeps each instance in its own registry, never the global one', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.observeRequest('Encrypt', 'ok', 0.002);
    a.observeRequest('Encrypt', 'ok', 0.003);
    expect(await a.render()).toContain('hsmkms_requests_total{operation="Encrypt",outcome="ok"} 2');
    expect(await b.render()).not.toContain('operation="Encrypt"');
    expect(await globalRegistry.metrics()).not.toContain('hsmkms_');
  });

  it('reads backend pool statistics at scrape time', async () => {
    let inUse = 1;
    const metrics = createMetrics({ stats: () => ({ inUse, idle: 8 - inUse }), processMetrics: false });
    expect(await metrics.render()).toContain('hsmkms_backend_pool{stat="inUse"} 1');
    inUse = 5;
    const text = await metrics.render();
    expect(text).toContain('hsmkms_backend_pool{stat="inUse"} 5');
    expect(text).toContain('hsmkms_backend_pool{stat="idle"} 3');
  });
});
