/**
 * Finds the secret and the principal behind a SigV4 access key id. Secrets are stored sealed
 * by the HSM; unsealing costs an HSM call, so resolved credentials are cached (bounded, for a
 * limited time, and dropped when the store announces that the key or its principal changed).
 */
import type { PrincipalRecord } from '../core/model.js';
import { CoherentCache, LocalInvalidationBus, type InvalidationBus } from '../core/invalidation.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';

/** What SigV4 verification needs for one access key. */
export interface ResolvedCredential {
  secretAccessKey: string;
  principal: PrincipalRecord;
}

export interface CredentialResolver {
  /** undefined for an unknown or inactive access key id. */
  resolve(accessKeyId: string): Promise<ResolvedCredential | undefined>;
  /**
   * What {@link resolve} would answer at once from its cache, or undefined when it would have
   * to look (a miss is not an answer: call resolve). Lets a caller skip a promise per request.
   */
  cached?(accessKeyId: string): ResolvedCredential | undefined;
}

export interface CredentialCacheOptions {
  /** How many access keys to keep unsealed in memory (default 1000). */
  cacheSize?: number;
  /** How long a cached entry is trusted, in ms (default 5 minutes). */
  ttlMs?: number;
  /**
   * Changes committed by any node: a deleted or deactivated access key, or a changed principal,
   * leaves the cache when the change is announced instead of when the entry expires.
   */
  changes?: InvalidationBus;
  /** For tests. */
  now?: () => number;
}

/** AWS access key ids are 16–128 word characters; anything else is not worth a lookup. */
const ACCESS_KEY_ID = /^\w{16,128}$/;

/**
 * A resolver over the metadata store. Unknown ids are not cached, so a flood of random ids
 * cannot evict real entries; concurrent lookups of the same id share one unseal.
 *
 * The authorizer reads the access key's status afresh on every call (core/authorization), so a
 * key deleted on another node is refused there within the change feed's bound even while its
 * secret is still cached here; the cache follows the feed too, so the secret does not linger.
 */
export function createStoreCredentialResolver(
  store: MetadataStore,
  backend: KeyBackend,
  options: CredentialCacheOptions = {},
): CredentialResolver {
  const cache = new CoherentCache<ResolvedCredential>({
    bus: options.changes ?? new LocalInvalidationBus(),
    capacity: Math.max(1, options.cacheSize ?? 1000),
    topics: ['access-key', { topic: 'principal', drop: (arn, entries) => entries.deleteWhere((e) => e.principal.arn === arn) }],
    ttlMs: options.ttlMs ?? 5 * 60_000,
    now: options.now,
  });
  const inflight = new Map<string, Promise<ResolvedCredential | undefined>>();

  async function load(accessKeyId: string): Promise<ResolvedCredential | undefined> {
    const record = await store.getAccessKey(accessKeyId);
    if (!record || record.status !== 'Active') return undefined;
    const principal = await store.getPrincipal(record.principalArn);
    if (!principal) return undefined;
    const secret = await backend.unsealSecret(record.sealedSecret);
    const value: ResolvedCredential = { secretAccessKey: secret.toString('utf8'), principal };
    secret.fill(0);
    return value;
  }

  function lookup(accessKeyId: string): Promise<ResolvedCredential | undefined> {
    let pending = inflight.get(accessKeyId);
    if (!pending) {
      pending = cache.get(accessKeyId, '', () => load(accessKeyId)).finally(() => inflight.delete(accessKeyId));
      inflight.set(accessKeyId, pending);
    }
    return pending;
  }

  return {
    async resolve(accessKeyId) {
      if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
      return lookup(accessKeyId);
    },
    cached(accessKeyId) {
      if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
      return cache.peek(accessKeyId, '');
    },
  };
}
