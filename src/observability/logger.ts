/**
 * The service's structured logger: pino, with redaction as a second line of defence. The first
 * line is not logging secrets at all: request bodies are never logged, and errors carry names
 * and codes rather than inputs.
 */
import pino, { type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import { printableJson } from '../core/caller-text.js';

/** Paths pino censors wherever they appear in a log object (one level of nesting). */
export const REDACT_PATHS = [
  'authorization',
  'Authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-amz-security-token"]',
  'secretAccessKey',
  'SecretAccessKey',
  'Plaintext',
  'pin',
  'soPin',
  '*.authorization',
  '*.Authorization',
  '*.secretAccessKey',
  '*.SecretAccessKey',
  '*.Plaintext',
  '*.pin',
  '*.soPin',
];

/**
 * A serialised line as {@link printableJson} shows it. Lines carry text a caller chose (a key id,
 * an access key id, an error message echoing a request) and are read with `less` or in a terminal:
 * pino's JSON escapes C0 controls but leaves DEL, C1 (U+009B is a terminal's CSI) and the
 * bidirectional controls raw. Most lines are ASCII without DEL, where JSON has escaped every
 * control already; they pass after this check (~30 ns a line, where the regex alone is ~300 ns).
 */
export function printableLine(line: string): string {
  return Buffer.byteLength(line) === line.length && !line.includes('\x7f') ? line : printableJson(line);
}

/** Logger options with redaction, printable lines and a `service` binding; merge your own over them. */
export function loggerOptions(overrides: LoggerOptions = {}): LoggerOptions {
  return {
    level: 'info',
    base: { service: 'hsmkms' },
    ...overrides,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { ...overrides.hooks, streamWrite: printableLine },
  };
}

/** A pino logger with the service's redaction rules, writing to `destination` (default stdout). */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream | NodeJS.WritableStream): PinoLogger {
  return pino(loggerOptions(options), (destination as DestinationStream | undefined) ?? pino.destination(1));
}

/** Where batched lines go: a pino destination (SonicBoom) or anything with `write`. */
export interface LineSink {
  write(chunk: string): unknown;
  flush?(callback: (error?: Error) => void): void;
  flushSync?(): void;
}

/** Destinations with lines still pending, written out synchronously if the process exits. */
const pendingAtExit = new Set<TurnBatchedDestination>();
let exitHook = false;

/** When a {@link TurnBatchedDestination} hands its lines on. */
export interface LineBatching {
  /**
   * Hand lines on at most this many ms after the first of them was written, instead of at the
   * end of its event-loop turn (0, the default). Under load a worker runs a few requests per
   * turn, so a write per turn is still a syscall (and a thread-pool round trip) every few
   * requests; a few ms of delay makes it one per few hundred.
   */
  maxDelayMs?: number;
  /** Hand lines on at once when this many characters are pending (default 64 Ki). */
  maxPendingChars?: number;
}

/**
 * A log destination that hands the lines written during one event-loop turn (or within
 * {@link LineBatching.maxDelayMs}) to `sink` as one write: under load a worker answers many
 * requests per turn, and a write per request line was a measurable share of its CPU. Lines
 * still pending when the process exits are written synchronously.
 */
export class TurnBatchedDestination {
  private pending: string[] = [];
  private pendingChars = 0;
  private readonly maxDelayMs: number;
  private readonly maxPendingChars: number;

  constructor(
    private readonly sink: LineSink,
    batching: LineBatching = {},
  ) {
    this.maxDelayMs = batching.maxDelayMs ?? 0;
    this.maxPendingChars = batching.maxPendingChars ?? 64 * 1024;
  }

  write(line: string): boolean {
    this.pendingChars += line.length;
    if (this.pending.push(line) === 1) {
      pendingAtExit.add(this);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', () => {
          for (const destination of pendingAtExit) destination.flushSync();
        });
      }
      // Unref'd: pending lines never keep the process alive (the exit hook writes them).
      if (this.maxDelayMs > 0) setTimeout(() => this.flush(), this.maxDelayMs).unref();
      else setImmediate(() => this.flush());
    } else if (this.pendingChars >= this.maxPendingChars) this.flush();
    return true;
  }

  /** Hands the pending lines to the sink now (pino's `logger.flush(cb)`: `cb` once the sink has them out). */
  flush(callback?: (error?: Error) => void): void {
    if (this.pending.length > 0) {
      const lines = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
      this.pending = [];
      this.pendingChars = 0;
      pendingAtExit.delete(this);
      this.sink.write(lines);
    }
    if (!callback) return;
    if (this.sink.flush) this.sink.flush(callback);
    else callback();
  }

  /** Writes everything out before returning (process exit, fatal errors). */
  flushSync(): void {
    this.flush();
    this.sink.flushSync?.();
  }
}
