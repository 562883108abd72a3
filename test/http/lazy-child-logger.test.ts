import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChildLoggerFactory } from '../../src/http/lazy-child-logger.js';
import { loggerOptions } from '../../src/observability/logger.js';

function capture(level: string): { logger: FastifyBaseLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ ...loggerOptions({ level }) }, stream) as unknown as FastifyBaseLogger, lines };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('lazy request logger', () => {
  it('makes no child for lines below the level, and a bound, redacting child for the rest', async () => {
    const { logger, lines } = capture('warn');
    const childSpy = vi.spyOn(logger, 'child');
    const log = lazyChildLoggerFactory(logger, { reqId: 'r-1' }, {});
    log.info({ operation: 'Encrypt' }, 'request');
    log.debug({ x: 1 }, 'debug');
    expect(childSpy).not.toHaveBeenCalled();
    log.warn({ operation: 'Encrypt', Plaintext: 'secret' }, 'request failed');
    log.error({ n: 2 }, 'second');
    expect(childSpy).toHaveBeenCalledTimes(1);
    await flush();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ reqId: 'r-1', operation: 'Encrypt', Plaintext: '[redacted]', msg: 'request failed', service: 'hsmkms' });
    expect(lines[1]).toMatchObject({ reqId: 'r-1', n: 2, msg: 'second' });
    expect(log.level).toBe('warn');
  });

  it('writes every enabled level, keeps a level set on it, and passes options straight to pino', async () => {
    const { logger, lines } = capture('info');
    const log = lazyChildLoggerFactory(logger, { reqId: 'r-2' }, {});
    log.info({ a: 1 }, 'one');
    log.level = 'error';
    log.warn({ b: 2 }, 'dropped');
    log.child({ sub: true }).error({ c: 3 }, 'from a grandchild');
    const routeLevel = lazyChildLoggerFactory(logger, { reqId: 'r-3' }, { level: 'debug' });
    routeLevel.debug({ d: 4 }, 'route logLevel');
    await flush();
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([
      ['r-2', 'one'],
      ['r-2', 'from a grandchild'],
      ['r-3', 'route logLevel'],
    ]);
    expect(lines[1]).toMatchObject({ sub: true });
  });
});
