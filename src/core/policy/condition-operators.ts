/**
 * The IAM condition operators a policy may name, with their `…IfExists` and set-qualified
 * forms, parsed once into what the evaluator needs.
 */

/** The operator families, by how they compare (IAM User Guide, "Condition operators"). */
export type OperatorFamily = 'String' | 'StringIgnoreCase' | 'StringLike' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'IpAddress' | 'Arn' | 'Null';

/** How a value compares with a policy value; negated operators use the positive relation. */
export type Relation = 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface BaseOperator {
  family: OperatorFamily;
  relation: Relation;
  /** `StringNotEquals`, `NotIpAddress`, `ArnNotLike`…: true when no policy value matches. */
  negated: boolean;
  /** Whether policy variables (`${aws:username}`) are substituted in its values. */
  variables: boolean;
}

function op(family: OperatorFamily, relation: Relation = 'eq', negated = false): BaseOperator {
  const variables = family === 'String' || family === 'StringIgnoreCase' || family === 'StringLike' || family === 'Arn' || family === 'Bool';
  return { family, relation, negated, variables };
}

const BASE_OPERATORS: Record<string, BaseOperator> = {
  StringEquals: op('String'),
  StringNotEquals: op('String', 'eq', true),
  StringEqualsIgnoreCase: op('StringIgnoreCase'),
  StringNotEqualsIgnoreCase: op('StringIgnoreCase', 'eq', true),
  StringLike: op('StringLike'),
  StringNotLike: op('StringLike', 'eq', true),
  NumericEquals: op('Numeric'),
  NumericNotEquals: op('Numeric', 'eq', true),
  NumericLessThan: op('Numeric', 'lt'),
  NumericLessThanEquals: op('Numeric', 'le'),
  NumericGreaterThan: op('Numeric', 'gt'),
  NumericGreaterThanEquals: op('Numeric', 'ge'),
  DateEquals: op('Date'),
  DateNotEquals: op('Date', 'eq', true),
  DateLessThan: op('Date', 'lt'),
  DateLessThanEquals: op('Date', 'le'),
  DateGreaterThan: op('Date', 'gt'),
  DateGreaterThanEquals: op('Date', 'ge'),
  Bool: op('Bool'),
  BinaryEquals: op('Binary'),
  IpAddress: op('IpAddress'),
  NotIpAddress: op('IpAddress', 'eq', true),
  ArnEquals: op('Arn'),
  ArnLike: op('Arn'),
  ArnNotEquals: op('Arn', 'eq', true),
  ArnNotLike: op('Arn', 'eq', true),
};

const BY_LOWER = new Map(Object.entries(BASE_OPERATORS).map(([name, base]) => [name.toLowerCase(), { name, base }]));

/** A condition operator, parsed. */
export interface ConditionOperator extends BaseOperator {
  /** The operator as AWS spells it, e.g. `ForAnyValue:StringLikeIfExists`. */
  name: string;
  /** The base operator without qualifier or suffix, e.g. `StringLike`. */
  base: string;
  qualifier: 'ForAnyValue' | 'ForAllValues' | undefined;
  ifExists: boolean;
}

const NULL_OPERATOR: ConditionOperator = { ...op('Null'), name: 'Null', base: 'Null', qualifier: undefined, ifExists: false };

/**
 * Parses `StringEquals`, `StringLikeIfExists`, `ForAnyValue:StringLike`, `Null`, …
 * (names are case-insensitive; `Null` takes neither the `IfExists` suffix nor a set qualifier,
 * as in IAM). Returns `undefined` for anything else.
 */
export function parseConditionOperator(name: string): ConditionOperator | undefined {
  const lower = name.toLowerCase();
  if (lower === 'null') return NULL_OPERATOR;
  let rest = lower;
  let qualifier: ConditionOperator['qualifier'];
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const q = rest.slice(0, colon);
    if (q === 'forallvalues') qualifier = 'ForAllValues';
    else if (q === 'foranyvalue') qualifier = 'ForAnyValue';
    else return undefined;
    rest = rest.slice(colon + 1);
  }
  const ifExists = rest.endsWith('ifexists');
  if (ifExists) rest = rest.slice(0, -'ifexists'.length);
  const found = BY_LOWER.get(rest);
  if (!found) return undefined;
  const canonical = `${qualifier ? `${qualifier}:` : ''}${found.name}${ifExists ? 'IfExists' : ''}`;
  return { ...found.base, name: canonical, base: found.name, qualifier, ifExists };
}

/** True for any operator {@link parseConditionOperator} accepts. */
export function isConditionOperator(name: string): boolean {
  return parseConditionOperator(name) !== undefined;
}
