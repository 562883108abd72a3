/**
 * The read caches of the SQLite stores (sqlite-store.ts, sqlite-ca-store.ts): plain Maps bounded
 * by dropping their first entry (a Map iterates in insertion order).
 */

/** A cached entry, made the most recently used. */
export function recall<T>(cache: Map<string, T>, id: string): T | undefined {
  const value = cache.get(id);
  if (value !== undefined) {
    cache.delete(id);
    cache.set(id, value);
  }
  return value;
}

/** Adds to a bounded cache, dropping the least recently used entry (the oldest one, for a cache read without {@link recall}) when full. */
export function remember<T>(cache: Map<string, T>, id: string, value: T, capacity: number): void {
  if (cache.size >= capacity) cache.delete(cache.keys().next().value!);
  cache.set(id, value);
}
