/**
 * IAM wildcard matching (`*` any run of characters, `?` exactly one) in linear-time steps,
 * without regular expressions.
 *
 * A pattern is compiled once into its `*`-separated segments. A match anchors the first
 * segment at the start and the last at the end, then places each middle segment at its
 * leftmost fit after the previous one. Because every segment has a fixed length (`?` takes one
 * character), the leftmost placement is always the right one: nothing is ever retried, so a
 * match costs at most |text| × |pattern| character comparisons and usually |text| + |pattern|
 * (a backtracking regex for `kms:` + 22×`*` + `Z` needs exponential time; this needs a dozen
 * steps, because the last segment `Z` is checked first, against the end of the text).
 *
 * Every comparison is charged to a {@link WorkMeter}, so a caller can bound the total work of
 * evaluating a whole policy, not just one match.
 */

/** Pattern element codes in a compiled segment (code units are ≥ 0). */
const ANY_ONE = -1;

/**
 * A budget of character comparisons shared by every match of one evaluation. When it runs
 * out, {@link WorkMeter.charge} throws {@link WorkLimitExceeded}; the evaluator catches it and
 * fails closed.
 */
export class WorkMeter {
  /** Comparisons charged so far. */
  steps = 0;
  constructor(readonly limit: number) {}

  charge(n: number): void {
    this.steps += n;
    if (this.steps > this.limit) throw new WorkLimitExceeded(this.limit);
  }
}

/** Thrown when an evaluation exceeds its {@link WorkMeter} budget. */
export class WorkLimitExceeded extends Error {
  constructor(readonly limit: number) {
    super(`policy evaluation exceeded its budget of ${limit} steps`);
    this.name = 'WorkLimitExceeded';
  }
}

/** A budget that never runs out, for callers that match one short pattern (tests, lockout check). */
export const UNMETERED: WorkMeter = new (class extends WorkMeter {
  override charge(): void {}
})(Infinity);

/**
 * A segment of literal characters and `?`s: a plain string when it has no `?` (compared with
 * one `startsWith` per position), or an array of code units with {@link ANY_ONE} for `?`.
 */
type Segment = string | Int32Array;

/** A compiled IAM wildcard pattern. Build with {@link compileGlob} or {@link compileGlobTokens}. */
export interface Glob {
  /** `exact`: no wildcard at all; `any`: only `*`s; otherwise segments around the `*`s. */
  readonly kind: 'exact' | 'any' | 'segments';
  /** For `exact`: the literal text. */
  readonly literal: string;
  /** Whether matching ignores case (the pattern is stored lower-cased; the text is lowered per match). */
  readonly ignoreCase: boolean;
  /** Segment before the first `*` (anchored at the start); `undefined` when there is no `*`. */
  readonly head: Segment;
  /** Segments between `*`s, in order. */
  readonly middle: readonly Segment[];
  /** Segment after the last `*` (anchored at the end). */
  readonly tail: Segment;
  /** Whether the pattern contains a `*` at all (if not, head is the whole pattern). */
  readonly hasStar: boolean;
  /** The fewest characters a matching text has. */
  readonly minLength: number;
}

/** One element of a pattern: literal text, or a wildcard. */
export type GlobToken = string | typeof STAR | typeof QUESTION;
export const STAR: unique symbol = Symbol('*');
export const QUESTION: unique symbol = Symbol('?');

/**
 * Compiles an IAM wildcard pattern where `*` and `?` in `pattern` are wildcards (Action,
 * Resource, StringLike and ArnLike values).
 */
export function compileGlob(pattern: string, ignoreCase = false): Glob {
  const tokens: GlobToken[] = [];
  let start = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === 42 /* * */ || c === 63 /* ? */) {
      if (i > start) tokens.push(pattern.slice(start, i));
      tokens.push(c === 42 ? STAR : QUESTION);
      start = i + 1;
    }
  }
  if (start < pattern.length) tokens.push(pattern.slice(start));
  return compileGlobTokens(tokens, ignoreCase);
}

/**
 * Compiles a pattern given as tokens, so that literal text may contain `*` or `?` (text that a
 * policy variable such as `${aws:username}` or `${*}` put there is never a wildcard).
 */
export function compileGlobTokens(tokens: readonly GlobToken[], ignoreCase = false): Glob {
  // Split into runs between stars; within a run, literal text and `?`s.
  const runs: GlobToken[][] = [[]];
  for (const token of tokens) {
    if (token === STAR) runs.push([]);
    else runs[runs.length - 1]!.push(ignoreCase && typeof token === 'string' ? token.toLowerCase() : token);
  }
  const segments = runs.map(toSegment);
  const minLength = segments.reduce((n, s) => n + s.length, 0);
  if (runs.length === 1) {
    const only = segments[0]!;
    if (typeof only === 'string')
      return { kind: 'exact', literal: only, ignoreCase, head: only, middle: [], tail: '', hasStar: false, minLength };
    return { kind: 'segments', literal: '', ignoreCase, head: only, middle: [], tail: '', hasStar: false, minLength };
  }
  const head = segments[0]!;
  const tail = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((s) => s.length > 0);
  const kind = minLength === 0 ? 'any' : 'segments';
  return { kind, literal: '', ignoreCase, head, middle, tail, hasStar: true, minLength };
}

function toSegment(run: GlobToken[]): Segment {
  if (run.every((t) => typeof t === 'string')) return (run as string[]).join('');
  const codes: number[] = [];
  for (const token of run) {
    if (token === QUESTION) codes.push(ANY_ONE);
    else for (let i = 0; i < (token as string).length; i++) codes.push((token as string).charCodeAt(i));
  }
  return Int32Array.from(codes);
}

/**
 * Whether `text` matches the compiled pattern. Each character comparison is charged to
 * `meter`; a text is lower-cased first when the pattern ignores case.
 */
export function globMatch(glob: Glob, text: string, meter: WorkMeter): boolean {
  if (glob.kind === 'any') {
    meter.charge(1);
    return true;
  }
  if (text.length < glob.minLength) {
    meter.charge(1);
    return false;
  }
  if (glob.ignoreCase) {
    meter.charge(text.length);
    text = text.toLowerCase();
  }
  if (glob.kind === 'exact') {
    meter.charge(1 + Math.min(text.length, glob.literal.length));
    return text === glob.literal;
  }
  if (!glob.hasStar) return text.length === glob.head.length && segmentAt(glob.head, text, 0, meter);
  // Anchors first: a wrong prefix or suffix fails before any search.
  const head = glob.head;
  const tail = glob.tail;
  if (!segmentAt(head, text, 0, meter)) return false;
  const end = text.length - tail.length;
  if (!segmentAt(tail, text, end, meter)) return false;
  let position = head.length;
  for (const segment of glob.middle) {
    const found = findSegment(segment, text, position, end, meter);
    if (found < 0) return false;
    position = found + segment.length;
  }
  return position <= end;
}

/** Whether `segment` matches `text` at `offset`. */
function segmentAt(segment: Segment, text: string, offset: number, meter: WorkMeter): boolean {
  const length = segment.length;
  if (length === 0) return true;
  if (typeof segment === 'string') {
    // Most positions fail on the first character: charge one step for those, the whole segment
    // (an upper bound on startsWith's work) for the rest.
    if (text.charCodeAt(offset) !== segment.charCodeAt(0)) {
      meter.charge(1);
      return false;
    }
    meter.charge(length);
    return text.startsWith(segment, offset);
  }
  for (let i = 0; i < length; i++) {
    const p = segment[i]!;
    if (p !== ANY_ONE && p !== text.charCodeAt(offset + i)) {
      meter.charge(i + 1);
      return false;
    }
  }
  meter.charge(length);
  return true;
}

/** The leftmost offset in [from, limit - |segment|] where `segment` matches, or -1. */
function findSegment(segment: Segment, text: string, from: number, limit: number, meter: WorkMeter): number {
  const last = limit - segment.length;
  for (let offset = from; offset <= last; offset++) if (segmentAt(segment, text, offset, meter)) return offset;
  meter.charge(1);
  return -1;
}

/** Convenience: match one pattern string once, unmetered (for short, trusted inputs). */
export function wildcardMatch(pattern: string, text: string, ignoreCase = false): boolean {
  return globMatch(compileGlob(pattern, ignoreCase), text, UNMETERED);
}
