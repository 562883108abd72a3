/**
 * The audit trail on disk: one {@link formatAuditRecord} line per event, appended to a file
 * created with mode 0600.
 *
 * `record` never blocks the request: lines go to a Node write stream, which batches whatever
 * accumulates while a write is in flight into one `writev`. `close()` writes everything still
 * buffered and fsyncs the file before closing it. A process that dies without `close()` loses
 * at most the lines still in memory; lines already written are never torn, because each line
 * is one `write` to a file opened for appending.
 */
import { createWriteStream, fstatSync, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import type { AuditEvent, AuditSink, Logger } from '../core/ports.js';
import { formatAuditRecord } from './audit-record.js';

/** Past this much unwritten audit data the disk is not keeping up: refuse rather than grow without bound. */
const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface JsonlAuditSinkOptions {
  /** The audit file; created (with its directory, 0700) if missing, appended to otherwise. */
  path: string;
  logger?: Logger;
  maxBufferedBytes?: number;
}

/** An {@link AuditSink} writing JSON lines; close it to be sure every event is on disk. */
export interface JsonlAuditSink extends AuditSink {
  readonly path: string;
  /** Resolves when every event recorded so far has been handed to the operating system. */
  flush(): Promise<void>;
  /**
   * Starts a new file at `path` (after log rotation moved the old one away): events recorded
   * before the call finish in the old file, later ones go to the new one.
   */
  reopen(): Promise<void>;
  /** Writes what is buffered, fsyncs and closes. Later `record` calls throw. */
  close(): Promise<void>;
}

/** Opens (creating if needed) the audit file for appending. Throws if it cannot be opened. */
export function openJsonlAuditSink(options: JsonlAuditSinkOptions): JsonlAuditSink {
  const path = resolve(options.path);
  const logger = options.logger;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let file = openAppendStream(path, logger);
  let closed = false;

  return {
    path,
    record(event: AuditEvent): void {
      if (closed) throw new Error('audit trail is closed');
      if (file.failure) throw new Error(`audit trail cannot be written: ${file.failure.message}`);
      if (file.stream.writableLength > maxBuffered) throw new Error('audit trail is not keeping up: event not recorded');
      file.stream.write(`${formatAuditRecord(event)}\n`);
    },
    async flush(): Promise<void> {
      if (closed || file.stream.writableLength === 0) return;
      // An empty write's callback runs once everything queued before it is written.
      const { stream } = file;
      await new Promise<void>((done, fail) => stream.write('', (error) => (error ? fail(error) : done())));
    },
    async reopen(): Promise<void> {
      if (closed) throw new Error('audit trail is closed');
      // Open the new file first: events recorded meanwhile go to it, none are lost in between.
      const previous = file;
      file = openAppendStream(path, logger);
      await finish(previous);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await finish(file);
    },
  };
}

interface AppendStream {
  stream: WriteStream;
  failure?: Error;
}

function openAppendStream(path: string, logger: Logger | undefined): AppendStream {
  // Opened synchronously so that a path we cannot write fails start-up, not the first request.
  const fd = openSync(path, 'a', 0o600);
  const mode = fstatSync(fd).mode & 0o777;
  if ((mode & 0o077) !== 0) logger?.warn({ path, mode: mode.toString(8) }, 'audit file is readable by group or others');
  const file: AppendStream = { stream: createWriteStream(path, { fd, flush: true }) };
  file.stream.on('error', (error) => {
    file.failure ??= error;
    logger?.error({ path, err: error.message }, 'audit trail write failed');
  });
  return file;
}

/** Writes what is buffered, fsyncs and closes; rejects if any write failed. */
async function finish(file: AppendStream): Promise<void> {
  const closedEvent = once(file.stream, 'close');
  file.stream.end();
  await closedEvent;
  if (file.failure) throw file.failure;
}
