/**
 * Log lines that a failing state repeats for every caller who meets it — a PIN the token refused
 * is found again by each request, `/health` poll and TLS handshake — kept from filling the log:
 * each distinct line (its key: the message and what distinguishes it, e.g. the CKR code) is
 * logged the first time, then at most once per interval, carrying how many were held back since
 * (`suppressed`). A change of state is never held back: {@link RepeatedLines.reset} when the state
 * ends or a new one begins (a different PIN refused, the login restored), and the next line of
 * each key is logged at once.
 */

/** Distinct lines remembered at most; past that all are forgotten (and logged once more). */
const MAX_KEYS = 64;

/** How often a line held back is logged at most by default. */
export const REPEATED_LINE_INTERVAL_MS = 60_000;

export class RepeatedLines {
  private readonly lines = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = REPEATED_LINE_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether to log this occurrence of the line `key`: undefined holds it back; otherwise log it
   * with the fields returned (`suppressed`, when occurrences were held back since it was last logged).
   */
  admit(key: string): { suppressed?: number } | undefined {
    const now = this.now();
    const line = this.lines.get(key);
    // A clock set back logs at once rather than holding lines back for the jump.
    if (line && now >= line.loggedAt && now - line.loggedAt < this.intervalMs) {
      line.suppressed++;
      return undefined;
    }
    if (!line && this.lines.size >= MAX_KEYS) this.lines.clear();
    this.lines.set(key, { loggedAt: now, suppressed: 0 });
    return line && line.suppressed > 0 ? { suppressed: line.suppressed } : {};
  }

  /** Whether any line has been admitted since the last reset (the state is on). */
  get active(): boolean {
    return this.lines.size > 0;
  }

  /** The state ended or changed: every line is logged at once again. Returns how many were held back, for the line that says so. */
  reset(): number {
    let suppressed = 0;
    for (const line of this.lines.values()) suppressed += line.suppressed;
    this.lines.clear();
    return suppressed;
  }
}
