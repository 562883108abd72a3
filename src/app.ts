/**
 * The composition root: the one place that picks concrete classes (PKCS#11 backend, SQLite
 * store, fastify adapter, JSON-lines audit trail) and wires them into the KMS core.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { openPkcs11Backend, type Pkcs11Backend, type Pkcs11BackendConfig } from './backend/pkcs11/index.js';
import { Pkcs11ClusterTokens, type ClusterConfig } from './backend/pkcs11/cluster-tokens.js';
import { KeyStoreConnections } from './core/key-stores/connections.js';
import { embeddedTokenPinFile } from './backend/pkcs11/embedded-token.js';
import { TokenXksKeys } from './backend/pkcs11/xks-keys.js';
import { ConfigError, readPin } from './config/hsm.js';
import { createXksCredentialResolver } from './xks/credentials.js';
import { createHttpXksProxies } from './http/xks-client.js';
import { XksProxy } from './xks/service.js';
import type { Server as HttpServer } from 'node:http';
import { createHsmHttpsServer } from './tls/https-server.js';
import { createHsmHttpsServerWithClientCertificates } from './tls/client-certificates.js';
import { HsmTlsError } from './tls/errors.js';
import { openSqliteStore } from './store/sqlite/index.js';
import { openJsonlAuditSink } from './audit/index.js';
import { createDispatcher } from './core/dispatch.js';
import { allOperations } from './core/operations/index.js';
import { startScheduler } from './core/scheduler.js';
import type { KmsDeps, KmsSettings } from './core/operation.js';
import type { Authorizer, Logger, MetadataStore } from './core/ports.js';
import { KmsError } from './core/errors.js';
import { buildServer } from './http/build-server.js';
import { createStoreCredentialResolver } from './auth/credentials.js';
import { ensureRootCredentials } from './auth/principals.js';
import { createMetrics } from './observability/metrics.js';
import { createLogger } from './observability/logger.js';

/** Everything `hsmkms serve` needs to know. */
export interface AppConfig {
  dataDir: string;
  hsm: Pkcs11BackendConfig;
  settings: KmsSettings;
  /** Root credentials from the environment; otherwise generated into the data directory. */
  rootCredentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  logLevel?: string;
  /** Background work (deletion, rotation, expiry): how often it looks; 0 turns it off in this process. */
  schedulerIntervalMs?: number;
  /** Write logs to this stream instead of stdout (tests). */
  logDestination?: NodeJS.WritableStream;
  /**
   * Tokens that token-backed custom key stores may use: configured ones (`--cluster`), and with
   * the embedded SoftHSM2 every other token in its directory (`embeddedModule`).
   */
  clusters?: { configured: ClusterConfig[]; embeddedModule?: string | undefined } | undefined;
  /** How often custom key stores are checked (default 10 s; 0: only when used). */
  keyStoreCheckIntervalMs?: number;
  /** The cluster whose token holds the XKS proxy's keys; default: the default store's token. */
  xksCluster?: string | undefined;
  /** How long a call to an external key store's XKS proxy may take (default 250 ms, AWS KMS's timeout). */
  xksProxyTimeoutMs?: number | undefined;
  /**
   * HTTPS with the private key in the HSM (the default store's token). With a client CA, the
   * XKS paths require a client certificate from it naming `clientSubject`; any bad client
   * certificate ends the handshake.
   */
  tls?: { keyUri: string; cert: string | Buffer; clientCa?: string | Buffer | undefined; clientSubject?: string | undefined } | undefined;
}

export interface App {
  server: FastifyInstance;
  deps: KmsDeps;
  backend: Pkcs11Backend;
  store: MetadataStore;
  logger: Logger;
  root: { accessKeyId: string; generated: boolean; file?: string | undefined };
  close(): Promise<void>;
}

/**
 * Until key policies are enforced, the account's own principals may do everything; anyone
 * else (a principal of another account) may not.
 */
const accountOnly = (settings: KmsSettings): Authorizer => ({
  async authorize({ principal, action }) {
    if (principal.accountId !== settings.accountId)
      throw new KmsError('AccessDeniedException', `User: ${principal.arn} is not authorized to perform: ${action}`);
  },
});

/** The backend and the store, opened together (and closed together if either fails). */
export async function openServices(
  dataDir: string,
  hsm: Pkcs11BackendConfig,
  logger: Logger,
): Promise<{ backend: Pkcs11Backend; store: MetadataStore; close(): Promise<void> }> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const backend = await openPkcs11Backend(hsm, logger);
  try {
    const store = await openSqliteStore({ path: join(dataDir, 'hsmkms.sqlite'), logger: logger.child({ component: 'store' }) });
    return {
      backend,
      store,
      async close() {
        await store.close();
        await backend.close();
      },
    };
  } catch (error) {
    await backend.close();
    throw error;
  }
}

/**
 * First-start work that must happen once, not in each of several workers racing: the token's
 * service keys, the schema, and the root credentials.
 */
export async function prepareDataDir(config: AppConfig): Promise<{ accessKeyId: string; generated: boolean; file?: string | undefined }> {
  const dataDir = resolve(config.dataDir);
  const logger = quietLogger();
  const services = await openServices(dataDir, config.hsm, logger);
  try {
    return await ensureRootCredentials(
      services.store,
      services.backend,
      config.settings,
      rootCredentialSource(config, dataDir),
    );
  } finally {
    await services.close();
  }
}

/** Root credentials from the configuration, or else the file in the data directory. */
function rootCredentialSource(config: AppConfig, dataDir: string): { accessKeyId: string; secretAccessKey: string } | { file: string } {
  return config.rootCredentials ?? { file: join(dataDir, 'root-credentials.json') };
}

/** A logger for commands: warnings and errors only, to stderr. */
export function quietLogger(): Logger {
  return createLogger({ level: 'warn' }, pino.destination(2)) as unknown as Logger;
}

/** Opens the backend and store and builds the (not yet listening) server. */
export async function createApp(config: AppConfig): Promise<App> {
  const dataDir = resolve(config.dataDir);
  const logger = createLogger({ level: config.logLevel ?? 'info' }, config.logDestination ?? pino.destination(1)) as unknown as Logger;
  const services = await openServices(dataDir, config.hsm, logger);
  const { backend, store } = services;
  const audit = openJsonlAuditSink({ path: join(dataDir, 'audit.log'), logger: logger.child({ component: 'audit' }) });
  const closers: Array<() => Promise<void>> = [];
  try {
    const clock = { now: () => new Date() };
    const keyStores = new KeyStoreConnections({
      store,
      backend,
      clusters: new Pkcs11ClusterTokens({
        configured: config.clusters?.configured ?? [],
        embedded: config.clusters?.embeddedModule ? { modulePath: config.clusters.embeddedModule } : undefined,
        defaultToken: config.hsm,
        // Its token's keys are served to XKS callers by label: a key store's keys must not be.
        reserved: config.xksCluster === undefined ? [] : [config.xksCluster],
      }),
      xks: createHttpXksProxies({ region: config.settings.region, timeoutMs: config.xksProxyTimeoutMs }),
      clock,
      logger: logger.child({ component: 'key-stores' }),
      checkIntervalMs: config.keyStoreCheckIntervalMs,
    });
    const deps: KmsDeps = {
      store,
      backend,
      clock,
      audit,
      authorizer: accountOnly(config.settings),
      settings: config.settings,
      keyStores,
    };
    const root = await ensureRootCredentials(
      store,
      backend,
      config.settings,
      rootCredentialSource(config, dataDir),
    );
    const xksKeys = await openXksKeys(config, dataDir);
    closers.push(() => xksKeys.close());
    const xks = new XksProxy({ keys: xksKeys, logger: logger.child({ component: 'xks' }), version: '0.1.0' });
    xks.warm();
    const dispatcher = createDispatcher(deps, allOperations, logger.child({ component: 'kms' }));
    const metrics = createMetrics({ stats: () => backend.stats() });
    const server = await buildServer({
      dispatcher,
      credentials: createStoreCredentialResolver(store, backend),
      settings: config.settings,
      health: () => backend.health(),
      metrics,
      logger,
      xks: { proxy: xks, credentials: createXksCredentialResolver(store, backend), clientSubject: config.tls?.clientCa ? config.tls.clientSubject : undefined },
      serverFactory: config.tls ? httpsServerFactory(config.hsm, config.tls) : undefined,
    });
    // With several workers only one runs the scheduler (the others pass 0).
    const scheduler =
      config.schedulerIntervalMs === 0
        ? { stop: async () => {} }
        : startScheduler(deps, logger.child({ component: 'scheduler' }), { intervalMs: config.schedulerIntervalMs ?? 60_000 });
    return {
      server,
      deps,
      backend,
      store,
      logger,
      root,
      async close() {
        await scheduler.stop();
        await server.close();
        await keyStores.close();
        for (const close of closers) await close();
        await audit.close();
        await services.close();
      },
    };
  } catch (error) {
    for (const close of closers) await close();
    await audit.close();
    await services.close();
    throw error;
  }
}

/** HTTPS through the TLS offload: the server's key signs handshakes in the HSM. */
function httpsServerFactory(hsm: Pkcs11BackendConfig, tls: NonNullable<AppConfig['tls']>): NonNullable<Parameters<typeof buildServer>[0]['serverFactory']> {
  return (handler) => {
    const options = { hsm, certificates: [{ keyUri: tls.keyUri, cert: tls.cert }] };
    try {
      if (tls.clientCa === undefined) return createHsmHttpsServer(options, handler) as unknown as HttpServer;
      if (!tls.clientSubject) throw new ConfigError('A client CA needs the client certificate subject to require (--tls-client-subject).');
      return createHsmHttpsServerWithClientCertificates(options, { ca: tls.clientCa, subject: tls.clientSubject }, handler) as unknown as HttpServer;
    } catch (error) {
      if (error instanceof HsmTlsError) throw new ConfigError(error.message);
      throw error;
    }
  };
}

/**
 * The token whose AES keys the XKS proxy serves (labelled with their external key ids): the
 * default store's own token, or `xksCluster` — an embedded token made by `hsmkms token init`
 * (its PIN file in the data directory), or a configured cluster whose pkcs11: URI has a pin-source.
 */
export async function openXksKeys(config: Pick<AppConfig, 'hsm' | 'clusters' | 'xksCluster'>, dataDir: string): Promise<TokenXksKeys> {
  const id = config.xksCluster;
  if (id === undefined) return TokenXksKeys.open({ ...config.hsm, pin: async () => readPin(config.hsm.pin) });
  const configured = config.clusters?.configured.find((c) => c.id === id);
  if (configured) {
    const pin = configured.pin;
    if (!pin) throw new ConfigError(`--xks-cluster ${id}: give the cluster a PIN with pin-source=file:/path in its pkcs11: URI.`);
    return TokenXksKeys.open({ ...configured, pin: async () => readPin(pin) });
  }
  const embedded = config.clusters?.embeddedModule;
  if (!embedded) throw new ConfigError(`--xks-cluster ${id}: no cluster ${id} is configured.`);
  return TokenXksKeys.open({ modulePath: embedded, token: { label: id }, profile: 'softhsm2', pin: async () => readPin({ file: embeddedTokenPinFile(dataDir, id) }) });
}
