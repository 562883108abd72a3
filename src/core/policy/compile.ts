/**
 * Policies compiled for evaluation: every pattern, value and operator is prepared once, so a
 * request costs only comparisons. {@link compilePolicy} memoises by the policy's exact text in
 * a bounded LRU, so a stored key policy is parsed once, not on every request.
 */
import { KmsError } from '../errors.js';
import { compileConditions, type CompiledCondition } from './conditions.js';
import { compileGlob, type Glob } from './glob.js';
import { compileArnPattern, type ArnPatternValue } from './patterns.js';
import {
  MAX_POLICY_BYTES,
  parsePolicyDocument,
  type PolicyDocument,
  type PolicyKind,
  type PolicyPrincipal,
  type PolicyStatement,
} from './policy-document.js';

/** The AWS principals a Principal/NotPrincipal block names, prepared for set lookups. */
export interface CompiledPrincipal {
  /** `"*"` or `{"AWS": "*"}`: everyone. */
  readonly any: boolean;
  /** IAM user (and other principal) ARNs, compared exactly. */
  readonly arns: ReadonlySet<string>;
  /** Accounts named by bare id (`111122223333`). */
  readonly accounts: ReadonlySet<string>;
  /** Accounts named by root ARN (`arn:aws:iam::111122223333:root`), with the ARNs' partitions. */
  readonly rootAccounts: ReadonlyMap<string, ReadonlySet<string>>;
}

/** A Resource entry: `*` (in a key policy, this key; in an identity policy, everything), or an ARN pattern. */
export type CompiledResource = { readonly any: true } | { readonly any: false; readonly arn: ArnPatternValue };

export interface CompiledStatement {
  /** Position in the policy, from 0. */
  readonly index: number;
  readonly sid: string | undefined;
  readonly effect: 'Allow' | 'Deny';
  /** Principal or NotPrincipal (see {@link notPrincipal}); absent in identity policies. */
  readonly principal: CompiledPrincipal | undefined;
  readonly notPrincipal: boolean;
  /** Action or NotAction patterns, lower-cased (actions match case-insensitively). */
  readonly actions: readonly Glob[];
  readonly notAction: boolean;
  readonly resources: readonly CompiledResource[];
  readonly notResource: boolean;
  readonly conditions: readonly CompiledCondition[];
}

/** A policy ready for {@link evaluatePolicy}. */
export interface CompiledPolicy {
  readonly kind: PolicyKind;
  readonly document: PolicyDocument;
  readonly statements: readonly CompiledStatement[];
}

/**
 * Compiles a parsed document. Variables are substituted only in policies of Version
 * 2012-10-17 (in 2008-10-17, `${…}` is literal text).
 */
export function compileDocument(document: PolicyDocument, kind: PolicyKind): CompiledPolicy {
  const variables = document.version === '2012-10-17';
  return {
    kind,
    document,
    statements: document.statements.map((s, index) => compileStatement(s, index, variables)),
  };
}

function compileStatement(s: PolicyStatement, index: number, variables: boolean): CompiledStatement {
  const principal = s.principal ?? s.notPrincipal;
  const actions = s.action ?? s.notAction ?? [];
  const resources = s.resource ?? s.notResource ?? [];
  return {
    index,
    sid: s.sid,
    effect: s.effect,
    principal: principal === undefined ? undefined : compilePrincipal(principal),
    notPrincipal: s.notPrincipal !== undefined,
    actions: actions.map((a) => compileGlob(a.toLowerCase())),
    notAction: s.notAction !== undefined,
    resources: resources.map((r): CompiledResource => (r === '*' ? { any: true } : { any: false, arn: compileArnPattern(r, variables) })),
    notResource: s.notResource !== undefined,
    conditions: compileConditions(s.condition, variables),
  };
}

const ROOT_ARN = /^arn:([a-z-]+):iam::(\d{12}):root$/;

function compilePrincipal(principal: PolicyPrincipal): CompiledPrincipal {
  if (principal === '*') return { any: true, arns: new Set(), accounts: new Set(), rootAccounts: new Map() };
  const ids = principal.AWS ?? [];
  const arns = new Set<string>();
  const accounts = new Set<string>();
  const rootAccounts = new Map<string, Set<string>>();
  for (const id of ids) {
    const root = ROOT_ARN.exec(id);
    if (/^\d{12}$/.test(id)) accounts.add(id);
    else if (root) rootAccounts.set(root[2]!, (rootAccounts.get(root[2]!) ?? new Set()).add(root[1]!));
    else if (id !== '*') arns.add(id);
  }
  // Service, Federated and CanonicalUser principals never name an IAM user of this service.
  return { any: ids.includes('*'), arns, accounts, rootAccounts };
}

interface CacheEntry {
  readonly policy?: CompiledPolicy;
  readonly error?: KmsError;
  readonly bytes: number;
  /** Used since it was last considered for eviction (the "second chance" of a CLOCK cache). */
  referenced: boolean;
}

/**
 * A bounded cache of compiled policies keyed by exact text (one map per policy kind), evicting
 * approximately least-recently-used entries (second chance: a hit only sets a flag, so the hot
 * path never reorders the map). Failures are cached too, so a stored malformed policy is not
 * re-parsed on every request.
 */
export class CompiledPolicyCache {
  private readonly maps: Record<PolicyKind, Map<string, CacheEntry>> = { resource: new Map(), identity: new Map() };
  private bytes = 0;

  /**
   * @param maxEntries most policies kept, across both kinds
   * @param maxBytes most policy text kept (each policy is at most 32 KiB; its compiled form is
   *   a few times that)
   */
  constructor(
    readonly maxEntries = 1024,
    readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  /** The compiled policy for `text`, compiling (and remembering) it on a miss. */
  get(text: string, kind: PolicyKind): CompiledPolicy {
    const map = this.maps[kind];
    let entry = map.get(text);
    if (entry) entry.referenced = true;
    else {
      entry = compileEntry(text, kind);
      // Oversized text is refused by its length alone: never worth keeping.
      if (text.length > MAX_POLICY_BYTES) throw entry.error!;
      map.set(text, entry);
      this.bytes += entry.bytes;
      this.evict();
    }
    if (entry.error) throw entry.error;
    return entry.policy!;
  }

  /** Policies held now. */
  get size(): number {
    return this.maps.resource.size + this.maps.identity.size;
  }

  clear(): void {
    this.maps.resource.clear();
    this.maps.identity.clear();
    this.bytes = 0;
  }

  private evict(): void {
    while (this.size > this.maxEntries || this.bytes > this.maxBytes) {
      // Evict from the larger map, oldest first, sparing entries used since their last turn.
      const map = this.maps.resource.size >= this.maps.identity.size ? this.maps.resource : this.maps.identity;
      const oldest = map.entries().next();
      if (oldest.done) return;
      const [text, entry] = oldest.value;
      map.delete(text);
      if (entry.referenced) {
        // Used since it was last here: keep it, as the newest, and look further.
        entry.referenced = false;
        map.set(text, entry);
        continue;
      }
      this.bytes -= entry.bytes;
    }
  }
}

function compileEntry(text: string, kind: PolicyKind): CacheEntry {
  const bytes = text.length * 2;
  try {
    return { policy: compileDocument(parsePolicyDocument(text, { kind, allowDuplicateMembers: true }), kind), bytes, referenced: false };
  } catch (error) {
    if (error instanceof KmsError) return { error, bytes, referenced: false };
    throw error;
  }
}

const defaultCache = new CompiledPolicyCache();

/**
 * Parses, validates and compiles a policy, memoised by its exact text in a shared bounded LRU
 * (the cache holds only pure functions of the text, so sharing it across requests and
 * components is safe). Throws MalformedPolicyDocumentException as {@link parsePolicyDocument}
 * does; an authorizer that finds a stored policy it cannot compile should deny.
 */
export function compilePolicy(text: string, options: { kind?: PolicyKind } = {}): CompiledPolicy {
  return defaultCache.get(text, options.kind ?? 'resource');
}

const documents = new WeakMap<PolicyDocument, CompiledPolicy>();

/** {@link compileDocument}, remembered per document object. */
export function compiledFor(document: PolicyDocument, kind: PolicyKind): CompiledPolicy {
  const cached = documents.get(document);
  if (cached && cached.kind === kind) return cached;
  const compiled = compileDocument(document, kind);
  documents.set(document, compiled);
  return compiled;
}
