/** The logger's redaction and the per-server metrics registry. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

/** A logger whose lines are kept, one string each. */
function capturedLogger() {
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
  return { lines, logger };
}

describe('createLogger', () => {
  it('censors authorization headers, secrets, PINs and plaintext even when a caller logs them', () => {
    const { lines, logger } = capturedLogger();
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

  it('writes C1, DEL and bidirectional controls as JSON escapes, in its children too, and the line parses to the same values', () => {
    // Caller-chosen text (an access key id, an error message echoing a key id) reaches log lines; read
    // in a terminal, U+009B is a CSI and U+202E reorders the line. JSON already escapes C0.
    const { lines, logger } = capturedLogger();
    const keyId = 'alias/\u202eevil\u009b2J\u007f\u2066\u001b[0m é';
    logger.info({ keyId }, `unknown ${keyId}`);
    logger.child({}, { redact: { paths: [] } }).warn({ reqId: keyId }, 'request');
    logger.info({ keyId: 'alias/plain' }, 'request');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(lines[0]).toContain('"keyId":"alias/\\u202eevil\\u009b2J\\u007f\\u2066\\u001b[0m é"');
    expect(JSON.parse(lines[0]!)).toMatchObject({ keyId, msg: `unknown ${keyId}` });
    expect(JSON.parse(lines[1]!)).toMatchObject({ reqId: keyId });
    expect(JSON.parse(lines[2]!)).toMatchObject({ keyId: 'alias/plain' });
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
