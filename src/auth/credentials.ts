/**
 * Finds the secret and the principal behind a SigV4 access key id. Secrets are stored sealed
 * by the HSM; unsealing costs an HSM call, so resolved credentials are cached (bounded, and for
 * a limited time so a deactivated key stops working without a restart).
 */
import type { PrincipalRecord } from '../core/model.js';
import type { KeyBackend, MetadataStore } from '../core/ports.js';

/** What SigV4 verification needs for one access key. */
export interface ResolvedCredential {
  secretAccessKey: string;
  principal: PrincipalRecord;
}

export interface CredentialResolver {
  /** undefined for an unknown or inactive access key id. */
  resolve(accessKeyId: string): Promise<ResolvedCredential | undefined>;
}

export interface CredentialCacheOptions {
  /** How many access keys to keep unsealed in memory (default 1000). */
  cacheSize?: number;
  /** How long a cached entry is trusted, in ms (default 5 minutes). */
  ttlMs?: number;
  /** For tests. */
  now?: () => number;
}

/** AWS access key ids are 16–128 word characters; anything else is not worth a lookup. */
const ACCESS_KEY_ID = /^\w{16,128}$/;

/**
 * A resolver over the metadata store. Unknown ids are not cached, so a flood of random ids
 * cannot evict real entries; concurrent lookups of the same id share one unseal.
 */
export function createStoreCredentialResolver(
  store: MetadataStore,
  backend: KeyBackend,
  options: CredentialCacheOptions = {},
): CredentialResolver {
  const cacheSize = Math.max(1, options.cacheSize ?? 1000);
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  // Map iteration order is insertion order: re-inserting on a hit makes it an LRU.
  const cache = new Map<string, { value: ResolvedCredential; expires: number }>();
  const inflight = new Map<string, Promise<ResolvedCredential | undefined>>();

  async function load(accessKeyId: string): Promise<ResolvedCredential | undefined> {
    const record = await store.getAccessKey(accessKeyId);
    if (!record || record.status !== 'Active') return undefined;
    const principal = await store.getPrincipal(record.principalArn);
    if (!principal) return undefined;
    const secret = await backend.unsealSecret(record.sealedSecret);
    const value: ResolvedCredential = { secretAccessKey: secret.toString('utf8'), principal };
    secret.fill(0);
    cache.set(accessKeyId, { value, expires: now() + ttlMs });
    while (cache.size > cacheSize) {
      const oldest = cache.keys().next();
      if (oldest.done) break;
      cache.delete(oldest.value);
    }
    return value;
  }

  return {
    async resolve(accessKeyId) {
      if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
      const hit = cache.get(accessKeyId);
      if (hit) {
        cache.delete(accessKeyId);
        if (hit.expires > now()) {
          cache.set(accessKeyId, hit);
          return hit.value;
        }
      }
      let pending = inflight.get(accessKeyId);
      if (!pending) {
        pending = load(accessKeyId).finally(() => inflight.delete(accessKeyId));
        inflight.set(accessKeyId, pending);
      }
      return pending;
    },
  };
}
