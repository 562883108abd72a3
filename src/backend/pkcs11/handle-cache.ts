/**
 * A bounded LRU of unwrapped key handles, keyed by MaterialRef.id (and of the public key copies
 * Verify uses, keyed by `publicKeyCacheId`).
 *
 * The unwrapped objects are session objects owned by one long-lived session (the owner): they
 * disappear when it closes, which is what keeps the token from accumulating per-CMK objects.
 * Entries are leased while an operation uses them, so eviction never destroys a key under a
 * running operation; the object is destroyed when the last lease ends.
 *
 * Epochs: every handle is stamped with the epoch of the owner session's objects it was made in
 * ({@link HandleEpochs}, kept by hsm-calls.ts). When the owner session is replaced or its objects
 * are no longer trusted, the epoch ends before any object of the next one is made; from then on
 * no handle of the old one is used or destroyed — an HSM that reuses handle numbers may have
 * given its number to another object (another key). The check is made where the call is made
 * (hsm-calls.ts, and the worker thread right before its calls): an operation that holds a lease
 * across the end of its epoch fails with StaleHandleError, nothing sent, and loads the key again;
 * a load that finishes in a later epoch than it was made in is dropped, never destroyed; an
 * evicted entry of an old epoch is never destroyed. And a load waits (HsmCalls.drained) while a
 * worker thread is still making a call that passed its check just before the epoch ended, so
 * that the new object cannot take the number that call is about to use.
 *
 * A Map is the LRU (insertion order, re-inserted on hit); the leasing rules are what matter here
 * and a generic LRU library would not know them.
 */
import type { Handle } from 'pkcs11js';
import { hsmError } from './errors.js';

/** A handle made on the owner session, and the epoch it was made in. */
export interface Made {
  handle: Handle;
  epoch: number;
  /**
   * A persistent token object that was found, not made (EdDSA key material): the cache forgets its
   * handle and never destroys the object, which is the key itself.
   */
  persistent?: boolean;
}

/** Where the epoch of the owner session's objects lives (HsmCalls). */
export interface HandleEpochs {
  readonly epoch: number;
  newEpoch(): void;
  /** Marks the handle so that no call is made with it once its epoch has ended. */
  stamp(handle: Handle, epoch: number): void;
}

interface Entry {
  handle: Handle;
  epoch: number;
  leases: number;
  /** No longer in the map; destroy when the last lease ends (in its own epoch only). */
  evicted: boolean;
  /** Destroyed, or of an ended epoch: never destroyed again. */
  dead: boolean;
  /** See {@link Made.persistent}: never destroyed. */
  persistent: boolean;
}

/** A handle lent to one operation. Call `release()` exactly once. */
export interface Lease {
  handle: Handle;
  release(): void;
}

export class HandleCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();

  constructor(
    private readonly capacity: number,
    private readonly epochs: HandleEpochs,
    /** Destroys an object in the token (on the owner session), unless its epoch has ended by then. */
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

  /** Leases the handle for `id`, made with `load` on a miss (concurrent misses share one load). */
  async lease(id: string, load: () => Promise<Made>): Promise<Lease> {
    let entry: Entry | undefined;
    // A freshly loaded entry can be evicted (tiny cache), or its epoch end (owner session
    // replaced), before this caller resumes; then load again.
    for (let attempt = 0; !entry || entry.epoch !== this.epochs.epoch; attempt++) {
      if (attempt === 3) throw hsmError('CKR_KEY_HANDLE_INVALID', 'HandleCache', 'unavailable', 'Key handle cache thrashing; raise cacheSize.');
      entry = this.entries.get(id);
      if (entry) {
        this.entries.delete(id);
        this.entries.set(id, entry);
        break;
      }
      let pending = this.inflight.get(id);
      if (!pending) {
        pending = load().then(
          (made) => this.insert(id, made),
          (e: unknown) => {
            if (this.inflight.get(id) === pending) this.inflight.delete(id);
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
   * The owner session is being replaced, or its objects are no longer trusted: the epoch ends,
   * and every handle of it with it. Nothing is destroyed: an old handle number may already name
   * a different object. Call before any object of the next epoch is made.
   */
  invalidateAll(): void {
    this.epochs.newEpoch();
    for (const e of this.entries.values()) e.dead = true;
    this.entries.clear();
    this.inflight.clear();
  }

  private insert(id: string, made: Made): Entry {
    const persistent = made.persistent === true;
    const entry: Entry = { handle: made.handle, epoch: made.epoch, leases: 0, evicted: false, dead: made.epoch !== this.epochs.epoch, persistent };
    // Made in an epoch that has ended (the owner session went meanwhile): dropped, not destroyed.
    if (entry.dead) return entry;
    this.inflight.delete(id);
    this.epochs.stamp(made.handle, made.epoch);
    const cached = this.entries.get(id);
    if (cached) {
      // Another load of this epoch got there first (one that started before the epoch ended
      // finished in this one): keep that object, destroy this unused one (a found token object stays).
      if (!persistent) this.destroy(made.handle);
      return cached;
    }
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
      // An entry whose epoch ended while it was leased is forgotten, never destroyed.
      if (e.epoch === this.epochs.epoch && !e.persistent) this.destroy(e.handle);
    }
  }
}
