/**
 * A bounded LRU of unwrapped key handles, keyed by MaterialRef.id (and of the public key copies
 * Verify uses, keyed by `publicKeyCacheId`).
 *
 * The unwrapped objects are session objects owned by one long-lived session (the owner): they
 * disappear when it closes, which is what keeps the token from accumulating per-CMK objects.
 * Entries are leased while an operation uses them, so eviction never destroys a key under a
 * running operation; the object is destroyed when the last lease ends.
 *
 * A Map is the LRU (insertion order, re-inserted on hit); the leasing rules are what matter here
 * and a generic LRU library would not know them.
 */
import type { Handle } from 'pkcs11js';
import { hsmError } from './errors.js';

interface Entry {
  handle: Handle;
  leases: number;
  /** No longer in the map; destroy when the last lease ends. */
  evicted: boolean;
  /** The owner session died: the handle is meaningless and must never be destroyed or used. */
  dead: boolean;
}

/** A handle lent to one operation. Call `release()` exactly once. */
export interface Lease {
  handle: Handle;
  release(): void;
}

export class HandleCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private generation = 0;

  constructor(
    private readonly capacity: number,
    /** Destroys an object in the token (on the owner session). */
    private readonly destroy: (handle: Handle) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('cacheSize must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** Leases a cached handle without waiting, or returns undefined on a miss. */
  tryLease(id: string): Lease | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return this.leaseOf(entry);
  }

  /** Leases the handle for `id`, unwrapping it with `load` on a miss (concurrent misses share one load). */
  async lease(id: string, load: () => Promise<Handle>): Promise<Lease> {
    let entry: Entry | undefined;
    // A freshly loaded entry can be evicted (tiny cache) or invalidated (owner session died)
    // before this caller resumes; then load again.
    for (let attempt = 0; !entry || entry.dead; attempt++) {
      if (attempt === 3) throw hsmError('CKR_KEY_HANDLE_INVALID', 'HandleCache', 'unavailable', 'Key handle cache thrashing; raise cacheSize.');
      entry = this.entries.get(id);
      if (entry) {
        this.entries.delete(id);
        this.entries.set(id, entry);
        break;
      }
      let pending = this.inflight.get(id);
      if (!pending) {
        const generation = this.generation;
        pending = load().then(
          (handle) => this.insert(id, handle, generation),
          (e: unknown) => {
            this.inflight.delete(id);
            throw e;
          },
        );
        this.inflight.set(id, pending);
      }
      entry = await pending;
    }
    return this.leaseOf(entry);
  }

  private leaseOf(e: Entry): Lease {
    e.leases++;
    let released = false;
    return {
      handle: e.handle,
      release: () => {
        if (released) return;
        released = true;
        e.leases--;
        this.maybeDestroy(e);
      },
    };
  }

  /** Drops one entry (after the material was deleted). */
  forget(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.evicted = true;
    this.maybeDestroy(e);
  }

  /** Drops every entry whose id starts with `prefix` (the public key copies of deleted material). */
  forgetPrefixed(prefix: string): void {
    for (const id of [...this.entries.keys()]) if (id.startsWith(prefix)) this.forget(id);
  }

  /**
   * The owner session is gone, and every handle with it. Nothing is destroyed: a dead handle
   * number may already name a different object.
   */
  invalidateAll(): void {
    this.generation++;
    for (const e of this.entries.values()) {
      e.dead = true;
      e.evicted = true;
    }
    this.entries.clear();
    this.inflight.clear();
  }

  private insert(id: string, handle: Handle, generation: number): Entry {
    this.inflight.delete(id);
    const entry: Entry = { handle, leases: 0, evicted: false, dead: generation !== this.generation };
    if (entry.dead) return entry; // unwrapped by an owner session that has since died
    this.entries.set(id, entry);
    while (this.entries.size > this.capacity) {
      const [oldestId, oldest] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldestId);
      oldest.evicted = true;
      this.maybeDestroy(oldest);
    }
    return entry;
  }

  private maybeDestroy(e: Entry): void {
    if (e.evicted && !e.dead && e.leases === 0) {
      e.dead = true;
      this.destroy(e.handle);
    }
  }
}
