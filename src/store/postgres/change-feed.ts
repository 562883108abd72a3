/**
 * The {@link InvalidationBus} of nodes sharing one PostgreSQL store: one connection per node
 * LISTENs on the channel the store's row triggers NOTIFY (migration 0008), and each
 * notification is delivered to the topic's subscribers.
 *
 * ## What can go wrong, and the bound each case keeps
 * - **Normal delivery.** NOTIFY reaches listeners when the writer's transaction commits; a
 *   change is seen by every node within milliseconds (`npm run bench` measures the p99).
 * - **The connection drops** (database restarted, `pg_terminate_backend`, network reset). The
 *   feed is at once not {@link coherent}: caches read through and keep nothing. It reconnects
 *   with backoff, LISTENs again, then drops everything subscribers hold (a reset) before it is
 *   coherent again — anything committed while it was away is read afresh.
 * - **The connection hangs silently** (a peer gone without a FIN). Every
 *   {@link ChangeFeedOptions.checkIntervalMs} the feed asks, on the LISTEN connection itself,
 *   for the change sequence's value; no answer within `checkTimeoutMs` counts as a drop.
 *   Bound: interval + timeout (750 ms by default).
 * - **Notifications go missing on a live connection** (e.g. a pooler such as PgBouncer in
 *   transaction mode, which does not carry LISTEN). That same check is a version check: the
 *   sequence numbers every change, and a number the feed has not heard of for `graceMs` (time
 *   for its transaction to commit) means a change was missed, so everything is dropped. Bound:
 *   interval + grace (750 ms by default). A transaction that rolled back after taking a number
 *   costs one needless reset.
 *
 * On the query's own connection the server sends every notification of transactions committed
 * before the query ran ahead of its result, so a sequence value the check reads and no
 * notification covered belongs to a transaction still open, rolled back, or lost.
 */
import pg from 'pg';
import { CHANGE_TOPICS, LocalInvalidationBus, type ChangeTopic, type InvalidationBus, type InvalidationListener } from '../../core/invalidation.js';
import { withDeadline } from '../../core/deadline.js';
import type { Logger } from '../../core/ports.js';
import { CHANGE_CHANNEL, CHANGE_SEQUENCE } from '../sql/migrations/0008-change-feed.js';
import { clientConfig, type ConnectionSettings } from './connection.js';

export interface ChangeFeedOptions extends ConnectionSettings {
  logger?: Logger | undefined;
  /** How often the connection and the change sequence are checked (default 250 ms). */
  checkIntervalMs?: number | undefined;
  /** How long a check may take before the connection counts as lost (default 500 ms). */
  checkTimeoutMs?: number | undefined;
  /** How long a change number may stay unheard of before it counts as missed (default 500 ms). */
  graceMs?: number | undefined;
}

/** What the feed has seen, for metrics, logs and tests. */
export interface ChangeFeedStats {
  connected: boolean;
  notifications: number;
  /** Times subscribers were told to drop everything (reconnects and failed version checks). */
  resets: number;
  /** Failed version checks (changes missed on a live connection). */
  missed: number;
  reconnects: number;
}

const TOPICS = new Set<string>(CHANGE_TOPICS);
const MAX_BACKOFF_MS = 2_000;

export class PostgresChangeFeed implements InvalidationBus {
  private readonly bus = new LocalInvalidationBus();
  private client: pg.Client | undefined;
  private schema = '';
  /** The highest change number heard of (notifications and baselines). */
  private heard = 0;
  /** A change number the last checks read and no notification has covered yet, and since when. */
  private pending: { seq: number; since: number } | undefined;
  private checking = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly counts: Omit<ChangeFeedStats, 'connected'> = { notifications: 0, resets: 0, missed: 0, reconnects: 0 };

  private constructor(private readonly options: ChangeFeedOptions) {
    this.timer = setInterval(() => void this.check(), options.checkIntervalMs ?? 250);
    this.timer.unref();
  }

  /** Connects and listens; throws if the database cannot be reached now. */
  static async open(options: ChangeFeedOptions): Promise<PostgresChangeFeed> {
    const feed = new PostgresChangeFeed(options);
    try {
      await feed.connect();
    } catch (error) {
      await feed.close();
      throw error;
    }
    return feed;
  }

  get coherent(): boolean {
    return this.client !== undefined && !this.closed;
  }

  get epoch(): number {
    return this.bus.epoch;
  }

  subscribe(topic: ChangeTopic, listener: InvalidationListener): () => void {
    return this.bus.subscribe(topic, listener);
  }

  stats(): ChangeFeedStats {
    return { connected: this.coherent, ...this.counts };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  // ───────────────────────── connection ─────────────────────────

  private async connect(): Promise<void> {
    const client = new pg.Client(clientConfig({ ...this.options, applicationName: 'hsmkms-changes' }));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, undefined));
    client.on('notification', (message) => {
      if (client === this.client && message.channel === CHANGE_CHANNEL) this.deliver(message.payload ?? '');
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
      await client.query(`listen ${CHANGE_CHANNEL}`);
      const baseline = await this.readSequence(client);
      if (this.closed) throw new Error('change feed closed');
      this.schema = rows[0]?.schema ?? 'public';
      this.heard = baseline;
      this.pending = undefined;
      // Whatever changed while nobody listened is read afresh: drop everything, then trust again.
      this.reset();
      this.client = client;
      this.backoffMs = 100;
    } catch (error) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private async readSequence(client: pg.Client): Promise<number> {
    const { rows } = await client.query<{ last_value: string; is_called: boolean }>(`select last_value, is_called from ${CHANGE_SEQUENCE}`);
    const row = rows[0];
    if (!row) return 0;
    const value = Number(row.last_value);
    return row.is_called ? value : value - 1;
  }

  /** The connection `client` failed or hung: read through until a new one is listening. */
  private lost(client: pg.Client, error: Error | undefined): void {
    if (client !== this.client) return;
    this.client = undefined;
    this.reset();
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.options.logger?.warn({ store: 'postgres', err: error?.message }, 'change feed connection lost; caches bypassed until it is back');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(
        () => {
          this.counts.reconnects++;
          this.options.logger?.info({ store: 'postgres' }, 'change feed reconnected; caches emptied and in use again');
        },
        () => {
          this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
          this.scheduleReconnect();
        },
      );
    }, this.backoffMs);
    this.reconnectTimer.unref();
  }

  // ───────────────────────── changes ─────────────────────────

  private deliver(payload: string): void {
    // `<schema> <seq> <topic> <id>`: the id is last and never holds a space.
    const [schema, seqText, topic, id] = payload.split(' ', 4);
    if (schema !== this.schema || topic === undefined || id === undefined) return;
    const seq = Number(seqText);
    if (seq > this.heard) this.heard = seq;
    this.counts.notifications++;
    if (TOPICS.has(topic)) this.bus.publish(topic as ChangeTopic, id);
  }

  private reset(): void {
    this.counts.resets++;
    this.bus.reset();
  }

  /** The periodic check: the connection answers, and no change number went unheard for long. */
  private async check(): Promise<void> {
    if (this.closed || this.checking) return;
    const client = this.client;
    if (!client) return this.scheduleReconnect();
    this.checking = true;
    const timeoutMs = this.options.checkTimeoutMs ?? 500;
    try {
      const seq = await withDeadline(this.readSequence(client), Date.now() + timeoutMs, () => new Error(`no answer to the change check within ${timeoutMs} ms`));
      if (client !== this.client) return;
      const now = Date.now();
      const grace = this.options.graceMs ?? 500;
      if (this.pending && this.heard < this.pending.seq && now - this.pending.since >= grace) {
        this.counts.missed++;
        this.options.logger?.warn({ store: 'postgres', heard: this.heard, sequence: seq }, 'change feed missed changes; caches emptied');
        this.heard = Math.max(this.heard, seq);
        this.pending = undefined;
        this.reset();
        return;
      }
      if (this.pending && this.heard >= this.pending.seq) this.pending = undefined;
      if (!this.pending && seq > this.heard) this.pending = { seq, since: now };
    } catch (error) {
      this.lost(client, error as Error);
    } finally {
      this.checking = false;
    }
  }
}
