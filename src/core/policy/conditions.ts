/**
 * The Condition element: each operator block compiled once per policy, evaluated per request
 * with IAM's rules (IAM User Guide, "Condition operators", "Creating a condition with multiple
 * keys or values", "Single-valued vs. multivalued context keys"):
 *
 * - several operators, and several keys under one operator, must all hold (AND);
 * - several values for one key: any may match (OR); a negated operator (`StringNotEquals`,
 *   `NotIpAddress`, `ArnNotLike`…) holds when none matches;
 * - a key absent from the request: the condition is false, except for negated operators
 *   (true), `…IfExists` (true), `ForAllValues:` (true) and `ForAnyValue:` (false);
 * - `ForAllValues:` holds when every request value satisfies the operator, `ForAnyValue:` when
 *   at least one does; without a set operator a multivalued key (an array in the context)
 *   never satisfies a condition ("Multivalued context keys require a condition set operator");
 * - `Null: true` holds when the key is absent, `Null: false` when it is present.
 */
import type { BlockList } from 'node:net';
import { parseConditionOperator, type ConditionOperator, type Relation } from './condition-operators.js';
import { compileIpRanges, ipInRanges, parseBase64, parseBool, parseDate, parseNumber } from './condition-values.js';
import type { ContextValue, ContextView } from './context.js';
import { globMatch, type WorkMeter } from './glob.js';
import {
  ARN_COMPONENTS,
  compileArnPattern,
  compilePattern,
  compileText,
  resolvePattern,
  resolveText,
  splitArn,
  type ArnPatternValue,
  type PatternValue,
  type TextValue,
} from './patterns.js';
import type { PolicyCondition } from './policy-document.js';

/** One condition (operator, key, values) as it was evaluated, for `policy explain`. */
export interface ConditionTrace {
  /** The operator as AWS spells it, e.g. `ForAnyValue:StringLike`. */
  readonly operator: string;
  /** The condition key as the policy writes it. */
  readonly key: string;
  /** The policy's values, as written (variables unresolved). */
  readonly expected: readonly string[];
  /** The request's value(s) for the key; `undefined` when absent. */
  readonly actual: string | readonly string[] | undefined;
  readonly result: boolean;
}

/** Whether one request value matches any of the policy's values (the positive relation). */
type AnyMatch = (value: string, source: ContextView, meter: WorkMeter) => boolean;

export interface CompiledCondition {
  readonly operator: ConditionOperator;
  readonly key: string;
  readonly keyLower: string;
  readonly expected: readonly string[];
  /** For `Null`: the presence each value asks for (true = absent); otherwise unused. */
  readonly nullChecks: readonly (boolean | undefined)[];
  readonly anyMatch: AnyMatch;
}

/**
 * Compiles a statement's Condition block. `variables` is false for policies older than
 * 2012-10-17, where `${…}` is literal text.
 */
export function compileConditions(condition: PolicyCondition | undefined, variables: boolean): CompiledCondition[] {
  if (!condition) return [];
  const out: CompiledCondition[] = [];
  for (const [operatorName, block] of Object.entries(condition)) {
    const operator = parseConditionOperator(operatorName);
    // parsePolicyDocument has refused unknown operators; a document built by hand may not have.
    if (!operator) throw new Error(`unknown condition operator ${operatorName}`);
    for (const [key, expected] of Object.entries(block)) {
      out.push({
        operator,
        key,
        keyLower: key.toLowerCase(),
        expected,
        nullChecks: operator.family === 'Null' ? expected.map(parseBool) : [],
        anyMatch: compileMatcher(operator, expected, variables && operator.variables),
      });
    }
  }
  return out;
}

function compileMatcher(operator: ConditionOperator, values: readonly string[], variables: boolean): AnyMatch {
  switch (operator.family) {
    case 'String':
      return stringEquals(values.map((v) => compileText(v, variables)));
    case 'StringIgnoreCase':
      return stringEqualsIgnoreCase(values.map((v) => compileText(v, variables)));
    case 'StringLike':
      return stringLike(values.map((v) => compilePattern(v, variables)));
    case 'Numeric':
      return ordered(values.map(parseNumber), parseNumber, operator.relation);
    case 'Date':
      return ordered(values.map(parseDate), parseDate, operator.relation);
    case 'Bool':
      return boolEquals(values.map((v) => compileText(v, variables)));
    case 'Binary':
      return binaryEquals(values.map(parseBase64));
    case 'IpAddress':
      return ipAddress(compileIpRanges(values));
    case 'Arn':
      return arnLike(values.map((v) => compileArnPattern(v, variables)));
    case 'Null':
      return () => false;
  }
}

function stringEquals(values: readonly TextValue[]): AnyMatch {
  return (value, source, meter) => {
    for (const v of values) {
      const text = resolveText(v, source);
      if (text === undefined) continue;
      meter.charge(1 + Math.min(text.length, value.length));
      if (text === value) return true;
    }
    return false;
  };
}

function stringEqualsIgnoreCase(values: readonly TextValue[]): AnyMatch {
  const lowered = values.map((v) => (v.text === undefined ? undefined : v.text.toLowerCase()));
  return (value, source, meter) => {
    meter.charge(value.length);
    const lower = value.toLowerCase();
    for (let i = 0; i < values.length; i++) {
      const text = lowered[i] ?? resolveText(values[i]!, source)?.toLowerCase();
      if (text === undefined) continue;
      meter.charge(1 + Math.min(text.length, lower.length));
      if (text === lower) return true;
    }
    return false;
  };
}

function stringLike(values: readonly PatternValue[]): AnyMatch {
  return (value, source, meter) => {
    for (const v of values) {
      const glob = resolvePattern(v, source);
      if (glob && globMatch(glob, value, meter)) return true;
    }
    return false;
  };
}

function ordered(
  expected: readonly (number | undefined)[],
  parse: (text: string) => number | undefined,
  relation: Relation,
): AnyMatch {
  return (value, _source, meter) => {
    meter.charge(1 + Math.min(value.length, 64));
    const actual = parse(value);
    if (actual === undefined) return false;
    for (const e of expected) {
      meter.charge(1);
      if (e !== undefined && compare(actual, e, relation)) return true;
    }
    return false;
  };
}

/** `request RELATION policy`: NumericLessThan holds when the request's value is less. */
function compare(actual: number, expected: number, relation: Relation): boolean {
  switch (relation) {
    case 'eq':
      return actual === expected;
    case 'lt':
      return actual < expected;
    case 'le':
      return actual <= expected;
    case 'gt':
      return actual > expected;
    case 'ge':
      return actual >= expected;
  }
}

function boolEquals(values: readonly TextValue[]): AnyMatch {
  return (value, source, meter) => {
    meter.charge(1);
    const actual = parseBool(value);
    if (actual === undefined) return false;
    for (const v of values) {
      meter.charge(1);
      const text = resolveText(v, source);
      if (text !== undefined && parseBool(text) === actual) return true;
    }
    return false;
  };
}

function binaryEquals(expected: readonly (Buffer | undefined)[]): AnyMatch {
  return (value, _source, meter) => {
    meter.charge(1 + value.length);
    const actual = parseBase64(value);
    if (!actual) return false;
    for (const e of expected) {
      meter.charge(1 + (e?.length ?? 0));
      if (e && e.equals(actual)) return true;
    }
    return false;
  };
}

function ipAddress(ranges: BlockList): AnyMatch {
  return (value, _source, meter) => {
    meter.charge(1 + Math.min(value.length, 64));
    return value.length <= 64 && ipInRanges(ranges, value);
  };
}

function arnLike(values: readonly ArnPatternValue[]): AnyMatch {
  return (value, source, meter) => {
    meter.charge(1);
    const parts = splitArn(value);
    if (!parts) return false;
    for (const v of values) if (v.components && arnComponentsMatch(v.components, parts, source, meter)) return true;
    return false;
  };
}

/** Whether each of an ARN's six components matches its pattern. */
export function arnComponentsMatch(
  patterns: readonly PatternValue[],
  parts: readonly string[],
  source: ContextView,
  meter: WorkMeter,
): boolean {
  for (let i = 0; i < ARN_COMPONENTS; i++) {
    const glob = resolvePattern(patterns[i]!, source);
    if (!glob || !globMatch(glob, parts[i]!, meter)) return false;
  }
  return true;
}

/** Evaluates one condition against the request. */
export function evaluateCondition(condition: CompiledCondition, source: ContextView, meter: WorkMeter): boolean {
  return decide(condition, source.value(condition.key, condition.keyLower), source, meter);
}

/** Evaluates one condition and records what was compared. */
export function traceCondition(condition: CompiledCondition, source: ContextView, meter: WorkMeter): ConditionTrace {
  const actual = source.value(condition.key, condition.keyLower);
  return {
    operator: condition.operator.name,
    key: condition.key,
    expected: condition.expected,
    actual,
    result: decide(condition, actual, source, meter),
  };
}

/** The trace of a condition already found to hold (by {@link evaluateCondition}), without deciding it again. */
export function heldCondition(condition: CompiledCondition, source: ContextView): ConditionTrace {
  return { operator: condition.operator.name, key: condition.key, expected: condition.expected, actual: source.value(condition.key, condition.keyLower), result: true };
}

function decide(condition: CompiledCondition, actual: ContextValue, source: ContextView, meter: WorkMeter): boolean {
  const operator = condition.operator;
  meter.charge(1);
  if (operator.family === 'Null') {
    const absent = actual === undefined;
    for (const wantsAbsent of condition.nullChecks) if (wantsAbsent !== undefined && wantsAbsent === absent) return true;
    return false;
  }
  if (actual === undefined) {
    if (operator.ifExists) return true;
    if (operator.qualifier === 'ForAllValues') return true;
    if (operator.qualifier === 'ForAnyValue') return false;
    return operator.negated;
  }
  if (operator.qualifier === undefined) {
    if (typeof actual !== 'string') return false;
    return satisfies(condition, actual, source, meter);
  }
  if (typeof actual === 'string') return satisfies(condition, actual, source, meter);
  if (operator.qualifier === 'ForAllValues') {
    for (const value of actual) if (!satisfies(condition, value, source, meter)) return false;
    return true;
  }
  for (const value of actual) if (satisfies(condition, value, source, meter)) return true;
  return false;
}

/** One request value against the operator: any policy value matches, or for a negated operator none does. */
function satisfies(condition: CompiledCondition, value: string, source: ContextView, meter: WorkMeter): boolean {
  const matched = condition.anyMatch(value, source, meter);
  return condition.operator.negated ? !matched : matched;
}
