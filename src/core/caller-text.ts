/**
 * Text a caller chose (a name, an id, a value), as an error message or a log line shows it: cut to
 * `max` UTF-16 code units with '…' after it when longer, so what hsmkms writes back or logs stays
 * bounded whatever the caller sent. A cut never splits a surrogate pair.
 */
export function callerText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = max > 0 && isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Control characters (C0, newline included, DEL, C1) and the bidirectional embedding, override and
 * isolate controls, which text from the trail or the service may hold (any caller chooses its
 * request parameters, a CSR's subject, a key's description), shown as `\uXXXX`: printed raw they
 * would drive the reader's terminal — move the cursor, erase lines, retitle the window — or
 * reorder what it (or the web console) shows, or (a newline) add a line that looks like another
 * record. The CLI (src/cli/output.ts) and the web console show caller text through these.
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

function escaped(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
