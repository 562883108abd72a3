/**
 * How every command behaves as a Unix citizen: results on stdout, messages on stderr, and a
 * quiet exit when the reader of its output goes away (`hsmkms principal list | head`).
 */
import { printable, printableJson } from '../core/caller-text.js';

/** Exit statuses, the same for every command. */
export const EXIT = {
  /** Done; also when the reader closed the output pipe early (its choice, not a failure). */
  ok: 0,
  /** The command failed: bad configuration, the HSM or the store refused, a bug. */
  error: 1,
  /** The command line itself is wrong: unknown command or option, missing or invalid argument. */
  usage: 2,
} as const;

/** True for the errors a write to a pipe whose reader has gone fails with. */
export function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/**
 * Without a listener, a write to a closed stdout is an unhandled 'error' event: a stack trace
 * and status 1 for `| head`. Here it ends the process at once with status 0 (nothing is half
 * done: every command's writes to the store are transactions). Errors on stderr are ignored:
 * there is nowhere left to report them.
 */
export function exitQuietlyWhenOutputCloses(): void {
  process.stdout.on('error', (error) => {
    if (isClosedPipe(error)) process.exit(EXIT.ok);
    process.stderr.write(`hsmkms: cannot write the output: ${error.message}\n`);
    process.exit(EXIT.error);
  });
  process.stderr.on('error', () => undefined);
}

// How caller-chosen text is shown to a person, shared with the web console.
export { printable, printableJson };

/** `value` as one JSON line (or a pretty-printed document with `indent`), safe to print (see {@link printableJson}). */
export function jsonLine(value: unknown, indent?: number): string {
  return `${printableJson(JSON.stringify(value, null, indent))}\n`;
}
