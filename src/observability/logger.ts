/**
 * The service's structured logger: pino, with redaction as a second line of defence. The first
 * line is not logging secrets at all: request bodies are never logged, and errors carry names
 * and codes rather than inputs.
 */
import pino, { type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';

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

/** Logger options with redaction and a `service` binding; merge your own over them. */
export function loggerOptions(overrides: LoggerOptions = {}): LoggerOptions {
  return {
    level: 'info',
    base: { service: 'hsmkms' },
    ...overrides,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}

/** A pino logger with the service's redaction rules, writing to `destination` (default stdout). */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream | NodeJS.WritableStream): PinoLogger {
  return pino(loggerOptions(options), (destination as DestinationStream | undefined) ?? pino.destination(1));
}
