/** Request log lines reach the output once per event-loop turn (or per maxDelayMs), in order, none lost at exit. */
import { execFileSync } from 'node:child_process';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger, TurnBatchedDestination } from '../../src/observability/logger.js';

function recordingSink() {
  const writes: string[] = [];
  let syncFlushes = 0;
  return {
    writes,
    syncFlushes: () => syncFlushes,
    write: (chunk: string) => writes.push(chunk),
    flushSync: () => void syncFlushes++,
  };
}

describe('TurnBatchedDestination', () => {
  it('hands the lines of one turn to the sink as one write, at the end of the turn, in order', async () => {
    const sink = recordingSink();
    const logger = createLogger({ level: 'info' }, new TurnBatchedDestination(sink));
    for (let i = 0; i < 5; i++) logger.info({ i }, 'request');
    expect(sink.writes).toEqual([]);
    await nextTurn();
    expect(sink.writes).toHaveLength(1);
    expect(sink.writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l).i)).toEqual([0, 1, 2, 3, 4]);
    logger.info({ i: 5 }, 'request');
    await nextTurn();
    expect(sink.writes).toHaveLength(2);
    expect(JSON.parse(sink.writes[1]!).i).toBe(5);
    // Nothing pending: no empty writes.
    await nextTurn();
    expect(sink.writes).toHaveLength(2);
  });

  it('with maxDelayMs, hands on the lines of several turns as one write once the delay has passed, or once too many are pending', async () => {
    const sink = recordingSink();
    const destination = new TurnBatchedDestination(sink, { maxDelayMs: 30, maxPendingChars: 8 });
    destination.write('a\n');
    await nextTurn();
    destination.write('b\n');
    await nextTurn();
    expect(sink.writes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sink.writes).toEqual(['a\nb\n']);
    // Past maxPendingChars the lines go at once, without waiting for the delay.
    for (const line of ['c\n', 'd\n', 'e\n', 'f\n']) destination.write(line);
    expect(sink.writes).toEqual(['a\nb\n', 'c\nd\ne\nf\n']);
  });

  it('writes what is pending at once on flushSync, and calls back on flush', async () => {
    const sink = recordingSink();
    const destination = new TurnBatchedDestination(sink);
    destination.write('a\n');
    destination.write('b\n');
    destination.flushSync();
    expect(sink.writes).toEqual(['a\nb\n']);
    expect(sink.syncFlushes()).toBe(1);
    await nextTurn();
    expect(sink.writes).toEqual(['a\nb\n']);
    destination.write('c\n');
    await new Promise<void>((resolve) => destination.flush(() => resolve()));
    expect(sink.writes).toEqual(['a\nb\n', 'c\n']);
  });

  it('loses no line when the process exits in the turn that logged it', () => {
    // The built module, as `hsmkms serve` runs it (the test set-up builds dist/).
    const logger = fileURLToPath(new URL('../../dist/observability/logger.js', import.meta.url));
    const script = `
      import pino from 'pino';
      import { createLogger, TurnBatchedDestination } from ${JSON.stringify(logger)};
      const log = createLogger({ level: 'info' }, new TurnBatchedDestination(pino.destination(1)));
      for (let i = 0; i < 100; i++) log.info({ i }, 'line');
      process.exit(0);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trimEnd().split('\n').map((l) => JSON.parse(l).i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
