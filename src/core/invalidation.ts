/**
 * Cache coherence across nodes: the port through which caches hear that something they hold
 * changed, and a cache that uses it correctly.
 *
 * A node keeps copies of rows it reads on every request (keys, principals, quorum rules,
 * unsealed credentials, unwrapped key handles). When several nodes share one store, a change
 * committed through one node must reach the others' copies. The store announces every committed
 * change as a {@link Change} on an {@link InvalidationBus}; caches subscribe to the topics they
 * hold. PostgreSQL delivers the changes with LISTEN/NOTIFY (src/store/postgres/change-feed.ts);
 * a single node or SQLite workers need no feed (src/store/local-invalidation-bus.ts).
 */

/**
 * What changed, as the store names it. The id is the changed record's, in the form the
 * subscribers key their caches by:
 * - `key`: a key id — the key row, its versions, aliases or tags changed;
 * - `key-material`: `<keyId>/<versionId>` (the backend's material id) — that version was deleted;
 * - `principal`: a principal ARN — its roles, identity policies, tags or access keys changed;
 * - `access-key`: an access key id — the key was added, changed (status) or deleted;
 * - `grant`: a key id — a grant on that key was created, retired or revoked;
 * - `quorum-rules`: `*` — the quorum rules changed;
 * - `custom-key-store`: a custom key store id — its record or its key bindings changed;
 * - `xks-credential`: an XKS access key id — created or deleted.
 */
export type ChangeTopic = 'key' | 'key-material' | 'principal' | 'access-key' | 'grant' | 'quorum-rules' | 'custom-key-store' | 'xks-credential';

export const CHANGE_TOPICS: readonly ChangeTopic[] = [
  'key',
  'key-material',
  'principal',
  'access-key',
  'grant',
  'quorum-rules',
  'custom-key-store',
  'xks-credential',
];

/**
 * Told what changed. `id` undefined means "anything on this topic may have changed": the bus
 * lost changes (a dropped connection, a failed version check) and the subscriber must drop
 * everything it holds for the topic.
 */
export type InvalidationListener = (id: string | undefined) => void;

/**
 * Changes committed by any node (this one included), by topic.
 *
 * The contract a cache relies on: a change committed at time t is delivered to every subscribed
 * node by t + the bus's stated bound, or the bus stops being {@link coherent} (and delivers a
 * reset when it is again). While it is not coherent, caches must not serve what they hold.
 */
export interface InvalidationBus {
  /** Calls `listener` for each change on `topic`; returns the function that unsubscribes. */
  subscribe(topic: ChangeTopic, listener: InvalidationListener): () => void;
  /** False while changes may go unheard (e.g. the feed is reconnecting): read through, cache nothing. */
  readonly coherent: boolean;
  /**
   * Grows with every change and reset delivered. A value read before loading a row and
   * unchanged after means no invalidation raced the load: the row may be cached.
   */
  readonly epoch: number;
}

/** Options of a {@link CoherentCache}. */
export interface CoherentCacheOptions<V> {
  bus: InvalidationBus;
  /** Entries kept at most; the least recently used goes first. */
  capacity: number;
  /**
   * Topics whose changes drop entries: by default the change's id names a group (see
   * {@link CoherentCache.get}) and the whole group goes; `drop` decides otherwise.
   */
  topics: ReadonlyArray<ChangeTopic | { topic: ChangeTopic; drop: (id: string, cache: CoherentCache<V>) => void }>;
  /**
   * How long an entry is served after it was loaded; an older one is dropped and loaded again
   * (a bound for what no change announces, or a bus that is not shared). Default: no limit.
   */
  ttlMs?: number | undefined;
  /** The clock for `ttlMs` (tests). */
  now?: () => number;
}

/**
 * A bounded LRU whose entries are dropped when the bus says they changed, and which serves and
 * keeps nothing while the bus is not coherent. Loads that an invalidation raced are returned
 * but not kept (the epoch check), so a row read just before a change cannot linger after it.
 *
 * Entries are addressed by a group (the id changes name: a key id, a principal ARN) and a
 * member within it (a key version, an access key), so one change drops a whole group.
 */
export class CoherentCache<V> {
  /** By group and member (length-prefixed), in LRU order. */
  private readonly entries = new Map<string, { group: string; value: V; expires: number }>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly unsubscribe: Array<() => void>;
  /** Grows whenever entries are dropped other than by the bus (e.g. this node's own commits). */
  private generation = 0;

  constructor(private readonly options: CoherentCacheOptions<V>) {
    this.unsubscribe = options.topics.map((entry) => {
      const { topic, drop } = typeof entry === 'string' ? { topic: entry, drop: undefined } : entry;
      return options.bus.subscribe(topic, (id) => {
        if (id === undefined) this.clear();
        else if (drop) drop(id, this);
        else this.deleteGroup(id);
      });
    });
  }

  /**
   * The cached value, or `load()`'s — kept if it is not undefined and nothing was invalidated
   * while it loaded.
   */
  async get<T extends V | undefined>(group: string, member: string, load: () => Promise<T>): Promise<T> {
    const { bus } = this.options;
    // Length-prefixed: ids can come from callers (a ciphertext names its key version) and must not collide.
    const id = `${group.length}:${group}${member}`;
    const hit = this.hit(id);
    if (hit !== undefined) return hit as T;
    const epoch = bus.epoch;
    const generation = this.generation;
    const value = await load();
    if (value !== undefined && bus.coherent && bus.epoch === epoch && this.generation === generation) this.set(id, group, value as V);
    return value;
  }

  /**
   * The cached value, if it may be served now (as {@link get} would serve it), without loading:
   * for callers that can skip a promise when the value is at hand.
   */
  peek(group: string, member: string): V | undefined {
    return this.hit(`${group.length}:${group}${member}`);
  }

  private hit(id: string): V | undefined {
    if (!this.options.bus.coherent) return undefined;
    const hit = this.entries.get(id);
    if (hit === undefined) return undefined;
    // Entries of a cache without ttlMs never expire: no clock read on its hits.
    if (hit.expires !== Infinity && hit.expires <= this.now()) {
      this.remove(id);
      return undefined;
    }
    this.entries.delete(id);
    this.entries.set(id, hit);
    return hit.value;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private set(id: string, group: string, value: V): void {
    this.entries.delete(id);
    this.entries.set(id, { group, value, expires: this.options.ttlMs === undefined ? Infinity : this.now() + this.options.ttlMs });
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Set()));
    members.add(id);
    while (this.entries.size > this.options.capacity) this.remove(this.entries.keys().next().value as string);
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    const members = this.groups.get(entry.group);
    members?.delete(id);
    if (members?.size === 0) this.groups.delete(entry.group);
  }

  /** Drops every entry of the group. */
  deleteGroup(group: string): void {
    this.generation++;
    for (const id of this.groups.get(group) ?? []) this.entries.delete(id);
    this.groups.delete(group);
  }

  /** Drops every entry whose value matches (a scan: for rare changes to small caches). */
  deleteWhere(match: (value: V) => boolean): void {
    this.generation++;
    for (const [id, entry] of [...this.entries]) if (match(entry.value)) this.remove(id);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.groups.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stops listening to the bus and drops everything. */
  close(): void {
    for (const off of this.unsubscribe) off();
    this.clear();
  }
}

/**
 * The in-process bus: changes published in this process reach this process's subscribers,
 * synchronously. It is the whole story for one node (SQLite, whose own read cache checks
 * `PRAGMA data_version` on every read and so needs no feed), and the delivery half of the
 * PostgreSQL feed, which publishes here what its LISTEN connection hears.
 */
export class LocalInvalidationBus implements InvalidationBus {
  private readonly listeners = new Map<ChangeTopic, Set<InvalidationListener>>();
  private epochValue = 0;
  coherent = true;

  get epoch(): number {
    return this.epochValue;
  }

  subscribe(topic: ChangeTopic, listener: InvalidationListener): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Delivers one change (`id` undefined: everything on the topic) to the topic's subscribers. */
  publish(topic: ChangeTopic, id: string | undefined): void {
    this.epochValue++;
    for (const listener of this.listeners.get(topic) ?? []) listener(id);
  }

  /** Everything may have changed: every subscriber of every topic drops what it holds. */
  reset(): void {
    this.epochValue++;
    for (const topic of this.listeners.keys()) this.publish(topic, undefined);
  }
}
