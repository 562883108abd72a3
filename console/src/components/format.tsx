/** Dates and times in the reader's own locale and time zone (Intl), with the exact instant in `dateTime`. */
import type { ReactElement } from 'react';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** With seconds, where they matter (audit events). */
const preciseDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** A Date, or epoch seconds as the HsmKms API writes them. */
export type Instant = Date | number;

export function toDate(value: Instant): Date {
  return value instanceof Date ? value : new Date(value * 1000);
}

export function formatDateTime(value: Instant, precise = false): string {
  return (precise ? preciseDateTime : dateTime).format(toDate(value));
}

/** "in 59 minutes", "3 days ago". */
export function formatRelative(value: Instant, now = Date.now()): string {
  const seconds = Math.round((toDate(value).getTime() - now) / 1000);
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  return relative.format(seconds, 'second');
}

export function DateTime({ value, withRelative = false, precise = false }: { value: Instant | string | undefined; withRelative?: boolean; precise?: boolean }): ReactElement {
  if (value === undefined) return <span className="muted">—</span>;
  // ISO 8601 text (audit summaries) or an instant.
  const date = typeof value === 'string' ? new Date(value) : toDate(value);
  if (Number.isNaN(date.getTime())) return <span>{String(value)}</span>;
  return (
    <time dateTime={date.toISOString()} title={date.toISOString()}>
      {formatDateTime(date, precise)}
      {withRelative ? ` (${formatRelative(date)})` : ''}
    </time>
  );
}
