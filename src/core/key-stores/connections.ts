/**
 * The live side of custom key stores: connecting and disconnecting in the background, as AWS
 * does, and the connection a key's store has in this process.
 *
 * The ConnectionState in the metadata store is the truth every node and worker follows. Connect
 * and Disconnect only move it (CONNECTING, DISCONNECTING) and return; a background task here
 * finishes the move (CONNECTED or FAILED with its ConnectionErrorCode, DISCONNECTED). Each
 * process holds its own connection to a CONNECTED store, opened on first use, and closes it as
 * soon as it sees the store is no longer CONNECTED: on the next request for one of its keys,
 * or at the latest at the next periodic check, which also finds tokens that went away.
 */
import { KmsError } from '../errors.js';
import type { Clock, KeyBackend, Logger, MetadataStore } from '../ports.js';
import type { ConnectionErrorCode, ConnectionState, CustomKeyStoreRecord } from './model.js';
import { KeyStoreConnectionError, type ClusterConnection, type ClusterTokens, type XksProxies, type XksProxyConnection } from './ports.js';
import { connectionCode, connectionMessage } from './xks-errors.js';

export interface KeyStoreConnectionsOptions {
  store: MetadataStore;
  /** Unseals key store passwords. */
  backend: KeyBackend;
  /** The tokens AWS_CLOUDHSM stores connect to; without them no such store can connect. */
  clusters?: ClusterTokens | undefined;
  /** Clients of XKS proxies, for EXTERNAL_KEY_STORE stores. */
  xks?: XksProxies | undefined;
  clock: Clock;
  logger: Logger;
  /** How often connected stores are checked and this process's connections reconciled; 0: never (tests call `reconcile`). */
  checkIntervalMs?: number;
}

/** Store records examined per reconcile pass (AWS's quota is 10 stores per account and Region). */
const MAX_STORES = 100;

/** A live connection: to a cluster's token, or to an XKS proxy. */
type Live = { kind: 'cluster'; connection: ClusterConnection } | { kind: 'xks'; connection: XksProxyConnection; revision: number };

/** Connections of this process to CONNECTED custom key stores. Built once by the composition root. */
export class KeyStoreConnections {
  private readonly live = new Map<string, Live>();
  private readonly opening = new Map<string, Promise<Live>>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: KeyStoreConnectionsOptions) {
    const interval = options.checkIntervalMs ?? 10_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.track(this.reconcile()), interval);
      this.timer.unref();
    }
  }

  /** The clusters AWS_CLOUDHSM stores may use. */
  get clusters(): ClusterTokens | undefined {
    return this.options.clusters;
  }

  /** Clients of XKS proxies (for EXTERNAL_KEY_STORE stores). */
  get xks(): XksProxies | undefined {
    return this.options.xks;
  }

  /** Finishes a ConnectCustomKeyStore in the background: the record says CONNECTING. */
  startConnecting(customKeyStoreId: string): void {
    this.track(this.connect(customKeyStoreId));
  }

  /** Finishes a DisconnectCustomKeyStore in the background: the record says DISCONNECTING. */
  startDisconnecting(customKeyStoreId: string): void {
    this.track(this.disconnect(customKeyStoreId));
  }

  /**
   * The connection to an AWS_CLOUDHSM store, opening this process's connection on first use.
   * Throws KMSInvalidStateException when the store is not CONNECTED, saying so about `user` (a
   * key ARN, or what else wants the store).
   */
  async connectionFor(store: CustomKeyStoreRecord, user: string): Promise<ClusterConnection> {
    const live = await this.liveFor(store, user);
    if (live.kind !== 'cluster') throw new KmsError('KMSInternalException', `Custom key store ${store.customKeyStoreId} is not token-backed.`);
    return live.connection;
  }

  /** The client of an EXTERNAL_KEY_STORE store's proxy (same rules as {@link connectionFor}). */
  async xksConnectionFor(store: CustomKeyStoreRecord, user: string): Promise<XksProxyConnection> {
    const live = await this.liveFor(store, user);
    if (live.kind !== 'xks') throw new KmsError('KMSInternalException', `Custom key store ${store.customKeyStoreId} is not an external key store.`);
    return live.connection;
  }

  private async liveFor(store: CustomKeyStoreRecord, user: string): Promise<Live> {
    if (store.connectionState !== 'CONNECTED') {
      await this.dropLocal(store.customKeyStoreId);
      throw notConnected(user, store);
    }
    // An external store's proxy path or credential may change while it is connected.
    const current = this.live.get(store.customKeyStoreId);
    if (current?.kind === 'xks' && current.revision !== store.revision) await this.dropLocal(store.customKeyStoreId);
    try {
      // A process that finds the store CONNECTED joins it without a health check: a proxy that
      // is down for a moment must fail requests, not the store.
      return await this.ensureOpen(store, false);
    } catch (error) {
      if (!(error instanceof KeyStoreConnectionError)) throw error;
      await this.fail(store.customKeyStoreId, ['CONNECTED'], error.code);
      throw new KmsError(
        'KMSInvalidStateException',
        `${user} is unavailable: its custom key store ${store.customKeyStoreId} could not be reached (${error.code}) and is now FAILED.`,
      );
    }
  }

  /**
   * Called when an operation on a connected store failed with something other than bad input:
   * if the token says why (gone, logged out for good), the store becomes FAILED and the error
   * the caller gets says so; otherwise the original error stands.
   */
  async diagnose(store: CustomKeyStoreRecord, user: string, error: unknown): Promise<unknown> {
    const live = this.live.get(store.customKeyStoreId);
    const code = live?.kind === 'cluster' ? await live.connection.check() : undefined;
    if (!code) return error;
    this.options.logger.warn({ customKeyStoreId: store.customKeyStoreId, code }, 'custom key store failed');
    await this.fail(store.customKeyStoreId, ['CONNECTED'], code);
    return new KmsError(
      'KMSInvalidStateException',
      `${user} is unavailable: its custom key store ${store.customKeyStoreId} lost its cluster (${code}) and is now FAILED. Disconnect and connect it again once the cluster is back.`,
    );
  }

  /**
   * One pass: closes connections of stores no longer CONNECTED, checks the others, finishes
   * moves a stopped process left half-done (CONNECTING, DISCONNECTING).
   */
  async reconcile(): Promise<void> {
    if (this.closed) return;
    const { items } = await this.options.store.keyStores.listCustomKeyStores(MAX_STORES);
    for (const store of items) {
      if (this.closed) return;
      const id = store.customKeyStoreId;
      const live = this.live.get(id);
      try {
        if (store.connectionState !== 'CONNECTED') await this.dropLocal(id);
        else if (live?.kind === 'cluster') {
          // (XKS proxies are not failed by a check: their requests fail while they are down.)
          const code = await live.connection.check();
          if (code) {
            this.options.logger.warn({ customKeyStoreId: id, code }, 'custom key store failed its periodic check');
            await this.fail(id, ['CONNECTED'], code);
          }
        }
        if (store.connectionState === 'CONNECTING' && !this.opening.has(id)) await this.connect(id);
        if (store.connectionState === 'DISCONNECTING') await this.disconnect(id);
      } catch (error) {
        this.options.logger.warn({ customKeyStoreId: id, err: describe(error) }, 'custom key store check failed');
      }
    }
  }

  /** Waits for background work started so far (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }

  /** Stops the checks and closes every connection of this process. The stores' states stay. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle();
    for (const id of [...this.live.keys()]) await this.dropLocal(id);
  }

  // ───────────────────────── internals ─────────────────────────

  private track(task: Promise<void>): void {
    const tracked = task.catch((error: unknown) => this.options.logger.error({ err: describe(error) }, 'custom key store task failed'));
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }

  private async connect(customKeyStoreId: string): Promise<void> {
    const store = await this.options.store.keyStores.getCustomKeyStore(customKeyStoreId);
    if (!store || store.connectionState !== 'CONNECTING') return;
    // A connect proves the store anew: a connection this process kept from before a disconnect
    // made through another node (which closed only that node's) must not pass for proof.
    await this.dropLocal(customKeyStoreId);
    try {
      await this.ensureOpen(store, true);
    } catch (error) {
      const code = error instanceof KeyStoreConnectionError ? error.code : 'INTERNAL_ERROR';
      this.options.logger.warn({ customKeyStoreId, code, err: describe(error) }, 'custom key store could not connect');
      await this.fail(customKeyStoreId, ['CONNECTING'], code);
      return;
    }
    const connected = await this.transition(customKeyStoreId, ['CONNECTING'], 'CONNECTED');
    if (connected) {
      const live = this.live.get(customKeyStoreId);
      if (live?.kind === 'xks') live.revision = connected.revision;
      this.options.logger.info({ customKeyStoreId }, 'custom key store connected');
      return;
    }
    // Another node finished the move first (keep the connection), or a Disconnect came meanwhile.
    const now = await this.options.store.keyStores.getCustomKeyStore(customKeyStoreId);
    if (now?.connectionState !== 'CONNECTED') await this.dropLocal(customKeyStoreId);
  }

  private async disconnect(customKeyStoreId: string): Promise<void> {
    await this.dropLocal(customKeyStoreId);
    if (await this.transition(customKeyStoreId, ['DISCONNECTING'], 'DISCONNECTED'))
      this.options.logger.info({ customKeyStoreId }, 'custom key store disconnected');
  }

  /**
   * This process's connection to the store, opened once: a token login belongs to the whole
   * process, so a second connection to the same token could not prove its password.
   */
  private ensureOpen(store: CustomKeyStoreRecord, verify: boolean): Promise<Live> {
    const id = store.customKeyStoreId;
    const existing = this.live.get(id);
    if (existing) return Promise.resolve(existing);
    let pending = this.opening.get(id);
    if (!pending) {
      pending = this.open(store, verify)
        .then(async (live) => {
          if (this.closed) {
            await live.connection.close();
            throw new KeyStoreConnectionError('INTERNAL_ERROR', 'The service is shutting down.');
          }
          this.live.set(id, live);
          return live;
        })
        .finally(() => this.opening.delete(id));
      this.opening.set(id, pending);
    }
    return pending;
  }

  /** Opens the store's connection; `verify`: an external store's proxy must pass GetHealthStatus first. */
  private async open(store: CustomKeyStoreRecord, verify: boolean): Promise<Live> {
    if (store.type === 'EXTERNAL_KEY_STORE') return { kind: 'xks', connection: await this.openXks(store, verify), revision: store.revision };
    const clusters = this.options.clusters;
    if (!store.cloudHsmClusterId || !store.sealedPassword)
      throw new KeyStoreConnectionError('INTERNAL_ERROR', `Custom key store ${store.customKeyStoreId} cannot be connected by this server.`);
    if (!clusters) throw new KeyStoreConnectionError('CLUSTER_NOT_FOUND', 'No clusters are configured on this server.');
    const sealed = store.sealedPassword;
    const connection = await clusters.connect(store.cloudHsmClusterId, () => this.unseal(sealed));
    return { kind: 'cluster', connection };
  }

  private async openXks(store: CustomKeyStoreRecord, verify: boolean): Promise<XksProxyConnection> {
    const proxy = store.xksProxy;
    if (!proxy || !this.options.xks) throw new KeyStoreConnectionError('INTERNAL_ERROR', `Custom key store ${store.customKeyStoreId} cannot be connected by this server.`);
    const connection = this.options.xks.connect(proxy, { accessKeyId: proxy.accessKeyId, secretAccessKey: await this.unseal(proxy.sealedSecretAccessKey) });
    if (!verify) return connection;
    try {
      const health = await connection.health({ kmsOperation: 'ConnectCustomKeyStore', kmsRequestId: `connect-${store.customKeyStoreId}` });
      if (health.available === 0) throw new KeyStoreConnectionError('XKS_PROXY_NOT_REACHABLE', 'Every external key manager behind the proxy is UNAVAILABLE.');
    } catch (error) {
      await connection.close();
      if (error instanceof KeyStoreConnectionError) throw error;
      throw new KeyStoreConnectionError(connectionCode(error), connectionMessage(error));
    }
    return connection;
  }

  private async unseal(sealed: Uint8Array): Promise<string> {
    const secret = await this.options.backend.unsealSecret(sealed);
    try {
      return secret.toString('utf8');
    } finally {
      secret.fill(0);
    }
  }

  private async dropLocal(customKeyStoreId: string): Promise<void> {
    const live = this.live.get(customKeyStoreId);
    if (!live) return;
    this.live.delete(customKeyStoreId);
    await live.connection.close();
  }

  private async fail(customKeyStoreId: string, from: ConnectionState[], code: ConnectionErrorCode): Promise<void> {
    await this.dropLocal(customKeyStoreId);
    await this.transition(customKeyStoreId, from, 'FAILED', code);
  }

  /** Moves the stored state if it is one of `from`: the record written, or undefined (someone else moved it). */
  private async transition(
    customKeyStoreId: string,
    from: ConnectionState[],
    to: ConnectionState,
    code?: ConnectionErrorCode,
  ): Promise<CustomKeyStoreRecord | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.options.store.keyStores.getCustomKeyStore(customKeyStoreId);
      if (!current || !from.includes(current.connectionState)) return undefined;
      const updated: CustomKeyStoreRecord = { ...current, connectionState: to, connectionErrorCode: code, revision: current.revision + 1 };
      if (await this.options.store.keyStores.updateCustomKeyStore(updated)) return updated;
    }
    return undefined;
  }
}

/** The error every use of a key in a store that is not CONNECTED gets. */
export function notConnected(user: string, store: CustomKeyStoreRecord): KmsError {
  const why = store.connectionState === 'FAILED' && store.connectionErrorCode ? `FAILED (${store.connectionErrorCode})` : store.connectionState;
  return new KmsError(
    'KMSInvalidStateException',
    `${user} is unavailable: its custom key store ${store.customKeyStoreId} is not connected (ConnectionState ${why}). Connect it with ConnectCustomKeyStore and try again.`,
  );
}

function describe(error: unknown): Record<string, unknown> {
  if (error instanceof KeyStoreConnectionError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message, code: (error as { code?: unknown }).code };
  return { value: String(error) };
}
