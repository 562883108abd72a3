/**
 * How every command behaves as a Unix citizen: results on stdout, messages on stderr, and a
 * quiet exit when the reader of its output goes away (`hsmkms principal list | head`).
 */

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

/**
 * Control characters (C0, newline included, DEL, C1) and the bidirectional embedding, override and
 * isolate controls, which text from the trail or the service may hold (any caller chooses its
 * request parameters, a CSR's subject, a key's description), shown as `\uXXXX`: printed raw they
 * would drive the reader's terminal — move the cursor, erase lines, retitle the window — or
 * reorder what it shows, or (a newline) add a line that looks like another record.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, escaped);
}

/**
 * JSON text for a terminal or a program alike: the same controls as {@link printable} but the
 * newline (which only separates a pretty-printed document's lines or JSON lines: inside a string
 * JSON.stringify writes it `\n`), written as JSON's own `\uXXXX` escapes. JSON.stringify escapes
 * C0 but leaves DEL, C1 (U+009B is a terminal's CSI) and the bidirectional controls raw; a stored
 * audit line is JSON.stringify's. Outside strings JSON has none of these characters, so the text
 * parses to the same value.
 */
export function printableJson(text: string): string {
  return text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, escaped);
}

/** `value` as one JSON line (or a pretty-printed document with `indent`), safe to print (see {@link printableJson}). */
export function jsonLine(value: unknown, indent?: number): string {
  return `${printableJson(JSON.stringify(value, null, indent))}\n`;
}

function escaped(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
