/**
 * Policy strings that may hold wildcards and policy variables (`${aws:username}`,
 * `${aws:PrincipalTag/team, 'default'}`, `${*}`, `${?}`, `${$}`), compiled once per policy and
 * resolved per request.
 *
 * IAM User Guide, "IAM policy elements: Variables and tags": variables exist only in policies
 * with Version 2012-10-17 (elsewhere `${…}` is literal text); a variable whose key is absent
 * (or multivalued) has no value, so the string it is in matches nothing unless it names a
 * default; text a variable supplies is never a wildcard.
 */
import { compileGlobTokens, QUESTION, STAR, type Glob, type GlobToken } from './glob.js';
import type { ContextView } from './context.js';

/** A variable reference inside a policy string. */
interface VariablePiece {
  readonly variable: string;
  readonly fallback: string | undefined;
}

type Piece = GlobToken | VariablePiece;

/** How `*` and `?` in a policy string are read. */
export type WildcardMode = 'wildcards' | 'literal';

/**
 * Splits a policy string into literal text, wildcards (when `mode` is `wildcards`) and
 * variables (when `variables` is true). `${*}`, `${?}` and `${$}` become literal characters.
 */
export function tokenize(source: string, mode: WildcardMode, variables: boolean): Piece[] {
  const pieces: Piece[] = [];
  let literal = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (mode === 'wildcards' && (c === '*' || c === '?')) {
      if (literal) pieces.push(literal);
      literal = '';
      pieces.push(c === '*' ? STAR : QUESTION);
      i++;
      continue;
    }
    if (variables && c === '$' && source[i + 1] === '{') {
      const close = source.indexOf('}', i + 2);
      if (close > 0) {
        const inner = source.slice(i + 2, close);
        if (inner === '*' || inner === '?' || inner === '$') literal += inner;
        else {
          if (literal) pieces.push(literal);
          literal = '';
          pieces.push(parseVariable(inner));
        }
        i = close + 1;
        continue;
      }
    }
    literal += c;
    i++;
  }
  if (literal) pieces.push(literal);
  return pieces;
}

/** `name` or `name, 'default'` (IAM: "Specifying default values"). */
function parseVariable(inner: string): VariablePiece {
  const comma = inner.indexOf(', ');
  if (comma > 0) {
    const rest = inner.slice(comma + 2).trim();
    if (rest.length >= 2 && rest.startsWith("'") && rest.endsWith("'"))
      return { variable: inner.slice(0, comma).trim(), fallback: rest.slice(1, -1) };
  }
  return { variable: inner.trim(), fallback: undefined };
}

function hasVariables(pieces: readonly Piece[]): boolean {
  for (const p of pieces) if (typeof p === 'object') return true;
  return false;
}

/**
 * Resolves variables to literal text. Returns `undefined` when a variable has no value and no
 * default: such a string matches nothing.
 */
function resolve(pieces: readonly Piece[], source: ContextView): GlobToken[] | undefined {
  const out: GlobToken[] = [];
  for (const p of pieces) {
    if (typeof p !== 'object') out.push(p);
    else {
      const value = source.variable(p.variable) ?? p.fallback;
      if (value === undefined) return undefined;
      out.push(value);
    }
  }
  return out;
}

/** A policy string compared literally (StringEquals, Bool, …), possibly with variables. */
export interface TextValue {
  readonly raw: string;
  /** The text when it has no variables. */
  readonly text: string | undefined;
  readonly pieces: readonly Piece[] | undefined;
}

export function compileText(raw: string, variables: boolean): TextValue {
  const pieces = tokenize(raw, 'literal', variables);
  if (!hasVariables(pieces)) return { raw, text: pieces.join(''), pieces: undefined };
  return { raw, text: undefined, pieces };
}

/** The text of a {@link TextValue} for this request, or `undefined` when a variable has no value. */
export function resolveText(value: TextValue, source: ContextView): string | undefined {
  if (value.text !== undefined) return value.text;
  const tokens = resolve(value.pieces!, source);
  return tokens === undefined ? undefined : (tokens as string[]).join('');
}

/** A wildcard pattern (Action, StringLike), possibly with variables. */
export interface PatternValue {
  readonly raw: string;
  readonly glob: Glob | undefined;
  readonly pieces: readonly Piece[] | undefined;
  readonly ignoreCase: boolean;
}

export function compilePattern(raw: string, variables: boolean, ignoreCase = false): PatternValue {
  const pieces = tokenize(raw, 'wildcards', variables);
  if (!hasVariables(pieces)) return { raw, glob: compileGlobTokens(pieces as GlobToken[], ignoreCase), pieces: undefined, ignoreCase };
  return { raw, glob: undefined, pieces, ignoreCase };
}

export function resolvePattern(value: PatternValue, source: ContextView): Glob | undefined {
  if (value.glob) return value.glob;
  const tokens = resolve(value.pieces!, source);
  return tokens === undefined ? undefined : compileGlobTokens(tokens, value.ignoreCase);
}

/**
 * An ARN pattern (Resource, ArnLike): six colon-separated components, each a wildcard pattern
 * ("Each of the six colon-delimited components of the ARN is checked separately", IAM User
 * Guide, ARN condition operators). The resource component keeps any further colons.
 */
export interface ArnPatternValue {
  readonly raw: string;
  /** The component patterns; `undefined` when the pattern has fewer than six components. */
  readonly components: readonly PatternValue[] | undefined;
}

export const ARN_COMPONENTS = 6;

/**
 * Compiles an ARN pattern. The components are split at the colons written in the policy,
 * before variables are substituted, so a variable's value stays within its component.
 */
export function compileArnPattern(raw: string, variables: boolean): ArnPatternValue {
  const pieces = tokenize(raw, 'wildcards', variables);
  const components: Piece[][] = [[]];
  for (const piece of pieces) {
    if (typeof piece !== 'string') {
      components[components.length - 1]!.push(piece);
      continue;
    }
    let rest = piece;
    for (;;) {
      const colon = components.length < ARN_COMPONENTS ? rest.indexOf(':') : -1;
      if (colon < 0) break;
      if (colon > 0) components[components.length - 1]!.push(rest.slice(0, colon));
      components.push([]);
      rest = rest.slice(colon + 1);
    }
    if (rest) components[components.length - 1]!.push(rest);
  }
  if (components.length < ARN_COMPONENTS) return { raw, components: undefined };
  return {
    raw,
    components: components.map((c) =>
      hasVariables(c)
        ? { raw, glob: undefined, pieces: c, ignoreCase: false }
        : { raw, glob: compileGlobTokens(c as GlobToken[]), pieces: undefined, ignoreCase: false },
    ),
  };
}

/**
 * Splits an ARN from a request into its six components without allocating more than the
 * component strings; `undefined` when it has fewer than six.
 */
export function splitArn(arn: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  for (let n = 0; n < ARN_COMPONENTS - 1; n++) {
    const colon = arn.indexOf(':', start);
    if (colon < 0) return undefined;
    parts.push(arn.slice(start, colon));
    start = colon + 1;
  }
  parts.push(arn.slice(start));
  return parts;
}
