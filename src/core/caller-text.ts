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
