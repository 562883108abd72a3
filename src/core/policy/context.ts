/**
 * Looking up condition keys and policy variables in a request context. IAM matches condition
 * key names case-insensitively (`kms:EncryptionContext:Tenant` and
 * `kms:encryptioncontext:tenant` are one key: AWS KMS Developer Guide, "Case sensitivity of the
 * encryption context condition"), so a lookup tries the exact spelling first (the common case,
 * no allocation) and then a lower-cased index built once per request.
 */

/** A condition key's value: one string, several (multivalued keys), or absent. */
export type ContextValue = string | readonly string[] | undefined;

/** Condition keys and their values for one request. */
export type ConditionContext = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * One request's condition keys and variables, as the evaluator reads them. Build one per
 * request (it indexes key names lazily, on the first lookup that misses the exact spelling).
 */
export class ContextView {
  private lowerIndex: Map<string, string | readonly string[]> | undefined;

  constructor(
    readonly context: ConditionContext,
    /** Values for policy variables that override (or add to) the context. */
    readonly variables?: Readonly<Record<string, string>> | undefined,
  ) {}

  /**
   * The value of condition key `key` (`keyLower` is its lower-case form), or `undefined` when the
   * request does not have it. An empty list counts as absent: IAM treats a key that resolves to
   * an empty set like a missing one (`Null` is true; `ForAllValues` true, `ForAnyValue` false).
   */
  value(key: string, keyLower: string): ContextValue {
    const context = this.context;
    if (hasOwn.call(context, key)) {
      const value = context[key];
      if (value !== undefined) return present(value);
    }
    let index = this.lowerIndex;
    if (!index) {
      index = new Map();
      for (const name of Object.keys(context)) {
        const value = context[name];
        const lower = name.toLowerCase();
        if (value !== undefined && !index.has(lower)) index.set(lower, value);
      }
      this.lowerIndex = index;
    }
    const value = index.get(keyLower);
    return value === undefined ? undefined : present(value);
  }

  /**
   * The value of a policy variable: from `variables`, else from the context. Multivalued keys
   * cannot be variables (IAM User Guide, "Single-valued vs. multivalued context keys"), so they
   * have no value here.
   */
  variable(name: string): string | undefined {
    const lower = name.toLowerCase();
    const variables = this.variables;
    if (variables) {
      if (hasOwn.call(variables, name)) return variables[name];
      for (const key of Object.keys(variables)) if (key.toLowerCase() === lower) return variables[key];
    }
    const value = this.value(name, lower);
    return typeof value === 'string' ? value : undefined;
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

function present(value: string | readonly string[]): ContextValue {
  return typeof value !== 'string' && value.length === 0 ? undefined : value;
}
