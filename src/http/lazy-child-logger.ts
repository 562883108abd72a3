/**
 * Fastify gives every request a child logger (`request.log`, bound to the request id). With
 * pino, `child()` costs about 2% of an Encrypt's CPU (binding serialisation and redaction
 * included), and at the usual production level most requests log nothing. This factory hands
 * out a stand-in that makes the real child on the first call that will actually write a line.
 */
import type { FastifyBaseLogger } from 'fastify';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;

/** A logger that may be able to say, without logging, whether a level would be written (pino can). */
type MaybeLevelAware = FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };

class LazyChildLogger {
  private real: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: MaybeLevelAware,
    private readonly bindings: Bindings,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.real ??= this.parent.child(this.bindings));
  }

  private write(level: Level, args: unknown[]): void {
    // A child made without options has its parent's level: nothing to make for a line it drops.
    if (this.real === undefined && this.parent.isLevelEnabled?.(level) === false) return;
    (this.logger[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.real?.level ?? this.parent.level;
  }
  set level(value: string) {
    this.logger.level = value;
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

/**
 * Fastify's `childLoggerFactory`: a lazily made child when the route asks for nothing special,
 * the ordinary child when it sets options (a per-route `logLevel`, serializers).
 */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  return new LazyChildLogger(logger, bindings) as unknown as FastifyBaseLogger;
}
