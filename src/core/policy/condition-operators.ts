/** The IAM condition operators a policy may name, with their `…IfExists` and set-qualified forms. */

const BASE_OPERATORS = new Set([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
]);

/**
 * True for `StringEquals`, `StringLikeIfExists`, `ForAnyValue:StringLike`, `Null`, …
 * (`Null` takes neither the `IfExists` suffix nor a set qualifier, as in IAM).
 */
export function isConditionOperator(name: string): boolean {
  if (name === 'Null') return true;
  let rest = name;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const qualifier = rest.slice(0, colon);
    if (qualifier !== 'ForAllValues' && qualifier !== 'ForAnyValue') return false;
    rest = rest.slice(colon + 1);
  }
  if (rest.endsWith('IfExists')) rest = rest.slice(0, -'IfExists'.length);
  return BASE_OPERATORS.has(rest);
}
