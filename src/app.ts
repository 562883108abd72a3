/**
 * The composition root: the one place that picks concrete classes (PKCS#11 backend, SQLite
 * store, fastify adapter, JSON-lines audit trail) and wires them into the KMS core.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { openPkcs11Backend, type Pkcs11Backend, type Pkcs11BackendConfig } from './backend/pkcs11/index.js';
import { Pkcs11ClusterTokens, type ClusterConfig } from './backend/pkcs11/cluster-tokens.js';
import { KeyStoreConnections } from './core/key-stores/connections.js';
import { embeddedTokenPinFile } from './backend/pkcs11/embedded-token.js';
import { TokenXksKeys } from './backend/pkcs11/xks-keys.js';
import { createXksCredentialResolver } from './xks/credentials.js';
import { createHttpXksProxies } from './http/xks-client.js';
import { XksProxy } from './xks/service.js';
import { createXksPolicyAuthorizer, XksPolicyError } from './xks/policy.js';
import type { Server as HttpServer } from 'node:http';
import { createHsmHttpsServer } from './tls/https-server.js';
import { followPin } from './tls/hsm-token.js';
import { createHsmHttpsServerWithClientCertificates } from './tls/client-certificates.js';
import { HsmTlsError } from './tls/errors.js';
import { logHandshakeFailures } from './tls/handshake-log.js';
import { forgetTlsObjects } from './tls/hsm-token.js';
import { openStore, type StoreConfig } from './store/open-store.js';
import type { InvalidationBus } from './core/invalidation.js';
import type { LeaderLease } from './core/leader-lease.js';
import { auditSignerOf, defaultAuditNodeId, openChainedAuditSink, type AuditFailureMode, type AuditSyncMode, type ChainedAuditSink } from './audit/index.js';
import { ConfigError, readPinForLogin, rereadPin } from './config/hsm.js';
import { createDispatcher } from './core/dispatch.js';
import { allOperations } from './core/operations/index.js';
import { adminOperations } from './core/admin/index.js';
import { quorumOperations } from './core/quorum/operations/index.js';
import { CERTIFICATE_JOURNAL, certificateOperations } from './core/certificates/index.js';
import { auditReadingOperations } from './core/audit-reading/index.js';
import { createAuditReader } from './audit/reader.js';
import { notedAfter } from './audit/noted-after.js';
import { readJournalEntry } from './ca/certificate-journal.js';
import { createAuthorizerBinder } from './core/authorization/authorizer.js';
import { operationRegistry } from './core/registry.js';
import { startScheduler } from './core/scheduler.js';
import type { KmsDeps, KmsSettings, Operation } from './core/operation.js';
import type { AuditSink, Authorizer, Logger, MetadataStore } from './core/ports.js';
import { KmsError } from './core/errors.js';
import { buildServer } from './http/build-server.js';
import { createStoreCredentialResolver } from './auth/credentials.js';
import { ensureRootCredentials, readRootFile } from './auth/principals.js';
import { nativeEcdsaVerifier } from './native/ecdsa-verify.js';
import { caApi, createCaDeps, createKmsClient, inProcessCaKms, sdkCaKms, signingThrough, type CaDeps, type CaStore } from './ca/index.js';
import { inProcessSigner } from './core/certificates/in-process-sign.js';
import { injectRequestHandler } from './http/inject-request-handler.js';
import { clusterMetrics, createMetrics, type Metrics } from './observability/metrics.js';
import { buildMetricsServer } from './http/metrics-server.js';
import type { HttpTimeouts } from './http/timeouts.js';
import { createLogger, TurnBatchedDestination } from './observability/logger.js';
import { multiRegionOperations } from './core/multi-region/index.js';
import { createHttpRegionPeers } from './http/region-peers.js';

import { DEFAULT_REQUEST_DEADLINE_MS } from './core/deadline.js';
import { VERSION } from './version.js';
export { DEFAULT_REQUEST_DEADLINE_MS };

/** Every operation the API serves, by registry key (`Encrypt`, `HsmKms.CreatePrincipal`; see core/registry.ts). */
export const serviceOperations: ReadonlyMap<string, Operation> = operationRegistry(
  allOperations.values(),
  adminOperations,
  quorumOperations,
  certificateOperations,
  auditReadingOperations,
  multiRegionOperations,
);

/** Everything `hsmkms serve` needs to know. */
export interface AppConfig {
  dataDir: string;
  hsm: Pkcs11BackendConfig;
  /** The metadata store (default: SQLite in the data directory). */
  store?: StoreConfig | undefined;
  /**
   * How long one API call may take before it fails with DependencyTimeoutException (default
   * 30 s): a store or HSM that does not answer makes calls fail, not hang.
   */
  requestDeadlineMs?: number | undefined;
  settings: KmsSettings;
  /** Root credentials from the environment; otherwise generated into the data directory. */
  rootCredentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  logLevel?: string;
  /** Background work (deletion, rotation, expiry): how often it looks; 0 turns it off in this process. */
  schedulerIntervalMs?: number;
  /** Write logs to this stream instead of stdout (tests). */
  logDestination?: NodeJS.WritableStream;
  /** Called when stdout, where the logs go, is a pipe whose reader has gone (the caller shuts down). */
  onLogOutputClosed?: () => void;
  /** Request, headers, idle and keep-alive timeouts of the HTTP listeners (defaults: DEFAULT_HTTP_TIMEOUTS). */
  httpTimeouts?: Partial<HttpTimeouts> | undefined;
  /** Build {@link App.metricsServer} (for `--metrics-listen`); the API listener never serves /metrics. */
  metricsEndpoint?: boolean;
  /** The audit trail (default: on, in `<dataDir>/audit`, fail-closed). */
  audit?: AuditConfig;
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
  /** The XKS proxy's secondary authorization: URI prefix → IAM-style policy (JSON text); see src/xks/policy.ts. */
  xksPolicies?: ReadonlyMap<string, string> | undefined;
  /**
   * HTTPS with the private key in the HSM (the default store's token). With a client CA, the
   * XKS paths require a client certificate from it naming `clientSubject`; any bad client
   * certificate ends the handshake.
   */
  tls?: { keyUri: string; cert: string | Buffer; clientCa?: string | Buffer | undefined; clientSubject?: string | undefined } | undefined;
  /** Serve the web console at /console (default true); a directory overrides where its build is. */
  console?: boolean | string;
}

/** Where and how the audit trail is written; see src/audit/chained-audit-sink.ts. */
export interface AuditConfig {
  /** `false` turns the audit trail off (benchmarks; not for production). */
  enabled?: boolean;
  dir?: string;
  /** This process's chain (default `<host>-w0`), or chains of which the first free one is taken. */
  nodeId?: string | readonly string[];
  failure?: AuditFailureMode;
  /** When a call is answered: once its record is on disk (default), or once it is in the file (`--audit-sync background`). */
  sync?: AuditSyncMode;
  digestEveryRecords?: number;
  digestEverySeconds?: number;
  maxFileBytes?: number;
}

/**
 * The built web console: `dist/console` of this package. This file runs as `src/app.ts` (tests)
 * or `dist/app.js`, one level below the package root either way.
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../dist/console', import.meta.url));

export interface App {
  server: FastifyInstance;
  /** `GET /metrics` for this process, when `metricsEndpoint` was asked for; not listening yet. */
  metricsServer?: FastifyInstance | undefined;
  metrics: Metrics;
  deps: KmsDeps;
  /** The audit trail writer, unless the trail is off. */
  audit?: ChainedAuditSink | undefined;
  backend: Pkcs11Backend;
  store: MetadataStore;
  /** The private CA, signing through this app's own KMS API in-process. */
  ca: CaDeps;
  logger: Logger;
  root: { accessKeyId: string; generated: boolean; file?: string | undefined };
  /**
   * Puts new XKS per-prefix policies in force (`serve` re-reads `--xks-policy` on SIGHUP); a
   * malformed one throws ConfigError naming its prefix, and the policies in force stay.
   */
  reloadXksPolicies(policies: AppConfig['xksPolicies']): void;
  close(): Promise<void>;
}

/**
 * `deps.authorizer` outside a dispatched call: the dispatcher binds the real one to every call
 * (core/authorization), so anything reaching this is a wiring bug, and it fails closed.
 */
const unboundAuthorizer: Authorizer = {
  async authorize() {
    throw new KmsError('KMSInternalException', 'An internal error occurred. Try again later.');
  },
};

/** What {@link openServices} opens: the backend, the store and what the store offers nodes. */
export interface Services {
  backend: Pkcs11Backend;
  store: MetadataStore;
  caStore: CaStore;
  /** Changes committed by any node (see core/invalidation.ts). */
  changes: InvalidationBus;
  leaderLease(): LeaderLease;
  storeHealth(): Promise<{ ok: boolean; detail?: string }>;
  close(): Promise<void>;
}

/**
 * The backend and the store, opened together (and closed together if either fails). `serving`:
 * for a node that serves (its caches follow the store's change feed); commands read through.
 */
export async function openServices(
  dataDir: string,
  hsm: Pkcs11BackendConfig,
  logger: Logger,
  storeConfig?: StoreConfig,
  options: { serving?: boolean } = {},
): Promise<Services> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const backend = await openPkcs11Backend(hsm, logger);
  try {
    const opened = await openStore(storeConfig, { dataDir, logger, serving: options.serving });
    return {
      backend,
      store: opened.store,
      caStore: opened.caStore,
      changes: opened.changes,
      leaderLease: opened.leaderLease,
      storeHealth: opened.health,
      async close() {
        await opened.close();
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
  const services = await openServices(dataDir, config.hsm, logger, config.store);
  try {
    // The audit key too, so that workers starting together do not race to create it.
    if (config.audit?.enabled !== false) await auditSignerOf(services.backend)?.auditPublicKey();
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

/** How long a request log line may wait for others to share its write to stdout. */
const STDOUT_LOG_DELAY_MS = 20;

/**
 * Logs to stdout. pino stops writing once stdout's reader has gone (EPIPE) and says nothing;
 * `onClosed` lets the service stop too rather than serve on with its logs lost.
 */
function stdoutLogs(onClosed: (() => void) | undefined): pino.DestinationStream {
  const destination = pino.destination(1);
  if (onClosed) destination.on('error', (error: NodeJS.ErrnoException) => error.code === 'EPIPE' && onClosed());
  // One write per 20 ms at most, not per line nor per event-loop turn (a turn holds only a few requests).
  return new TurnBatchedDestination(destination, { maxDelayMs: STDOUT_LOG_DELAY_MS });
}

/**
 * The root access key and secret, for clients inside this process (the CA) that sign their
 * requests like any other. Call after {@link ensureRootCredentials} has created the file.
 */
export function rootCredentials(config: AppConfig): { accessKeyId: string; secretAccessKey: string } {
  const source = rootCredentialSource(config, resolve(config.dataDir));
  return 'file' in source ? readRootFile(source.file) : source;
}

/** A logger for commands: warnings and errors only, to stderr. */
export function quietLogger(): Logger {
  return createLogger({ level: 'warn' }, pino.destination(2)) as unknown as Logger;
}

/** Opens the backend and store and builds the (not yet listening) server. */
export async function createApp(config: AppConfig): Promise<App> {
  const dataDir = resolve(config.dataDir);
  const logger = createLogger({ level: config.logLevel ?? 'info' }, config.logDestination ?? stdoutLogs(config.onLogOutputClosed)) as unknown as Logger;
  // The TLS engine shares the module, and so the login, with the backend (and the XKS keys of the
  // default token): when their handles end with a lost login, the engine's do too (native/token.h,
  // ForgetObjects).
  const hsm = config.tls ? { ...config.hsm, onHandleEpochEnd: () => forgetTlsObjects(config.hsm.modulePath) } : config.hsm;
  const services = await openServices(dataDir, hsm, logger, config.store, { serving: true });
  const { backend, store, changes } = services;
  // Material deleted through any node leaves this node's handle cache (and the token's session objects).
  const unsubscribeMaterial = changes.subscribe('key-material', (id) => {
    if (id !== undefined) backend.forget(id);
  });
  let audit: ChainedAuditSink | undefined;
  try {
    audit = await openAuditTrail(config, dataDir, backend, logger.child({ component: 'audit' }));
  } catch (error) {
    await services.close();
    throw error;
  }
  const closers: Array<() => Promise<void>> = [];
  try {
    await restoreJournaledCertificates(services.caStore, resolve(config.audit?.dir ?? join(dataDir, 'audit')), logger);
    // Issued certificates kept durable by their audit records from now on (src/ca/certificate-journal.ts).
    const trail = audit;
    if (trail?.recordsDurably) services.caStore.enableJournal?.(() => ({ nodeId: trail.nodeId, sequence: trail.status().sequence }));
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
        callTimeoutMs: config.hsm.callTimeoutMs,
      }),
      xks: createHttpXksProxies({ region: config.settings.region, timeoutMs: config.xksProxyTimeoutMs }),
      clock,
      logger: logger.child({ component: 'key-stores' }),
      checkIntervalMs: config.keyStoreCheckIntervalMs,
    });
    // Its checks run from now on: a start that fails below must stop them, or the process lives on.
    closers.push(() => keyStores.close());
    const deps: KmsDeps = {
      store,
      backend,
      clock,
      audit: audit ?? NO_AUDIT,
      authorizer: unboundAuthorizer,
      settings: config.settings,
      keyStores,
      auditReader: audit
        ? createAuditReader({ dir: audit.dir, publicKey: async () => auditSignerOf(backend)?.auditPublicKey() })
        : undefined,
      regionPeers: createHttpRegionPeers({ store, backend }),
      logger: logger.child({ component: 'multi-region' }),
    };
    const root = await ensureRootCredentials(
      store,
      backend,
      config.settings,
      rootCredentialSource(config, dataDir),
    );
    const xksAuthorizer = xksPolicyAuthorizer(config.xksPolicies);
    const xksKeys = await openXksKeys({ ...config, hsm }, dataDir);
    closers.push(() => xksKeys.close());
    const xks = new XksProxy({ keys: xksKeys, logger: logger.child({ component: 'xks' }), version: VERSION, authorizer: xksAuthorizer });
    xks.warm();
    const dispatcher = createDispatcher(deps, serviceOperations, logger.child({ component: 'kms' }), {
      bindAuthorizer: createAuthorizerBinder(deps),
      deadlineMs: config.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS,
    });
    const metrics = createMetrics({ stats: () => backend.stats() });
    const credentials = createStoreCredentialResolver(store, backend, { changes });
    // The CA calls this server's KMS API as the account root: its signatures go straight to the
    // dispatcher — authorisation, quorum and audit as for any Sign (a leaf issued over the API is
    // signed inside its IssueCertificate call instead, see src/core/certificates/); its rarer
    // calls (CreateKey, GetPublicKey) through inject(): SigV4 and all, without opening a port.
    // The server is built just below.
    let server: FastifyInstance | undefined;
    const caCredentials = rootCredentials(config);
    const kmsClient = createKmsClient({
      region: config.settings.region,
      endpoint: 'http://hsmkms.in-process',
      credentials: caCredentials,
      requestHandler: injectRequestHandler(() => server!),
    });
    const caSigner = inProcessSigner(dispatcher, {
      accessKeyId: caCredentials.accessKeyId,
      principal: async () => (await credentials.resolve(caCredentials.accessKeyId))?.principal,
    });
    // A CSR's ECDSA key imported and checked off the event loop (native/ecdsa-verify.cc), when the addon is built.
    const ca = createCaDeps(inProcessCaKms(signingThrough(sdkCaKms(kmsClient), caSigner)), services.caStore, undefined, nativeEcdsaVerifier());
    deps.certificateAuthority = caApi(ca);
    server = await buildServer({
      dispatcher,
      credentials,
      settings: config.settings,
      health: async () => {
        // Fail-closed: a node that refuses calls for want of an audit trail is not healthy.
        if (audit && !audit.accepting()) return { ok: false, detail: 'the audit trail cannot be written' };
        // A node that cannot reach its store cannot serve: the load balancer should skip it.
        const [hsm, metadata] = await Promise.all([backend.health(), services.storeHealth()]);
        return hsm.ok ? metadata : hsm;
      },
      metrics,
      logger,
      timeouts: config.httpTimeouts,
      ca,
      xks: {
        proxy: xks,
        credentials: createXksCredentialResolver(store, backend, { changes }),
        clientSubject: config.tls?.clientCa ? config.tls.clientSubject : undefined,
        audit,
      },
      serverFactory: config.tls ? httpsServerFactory(config.hsm, config.tls, logger) : undefined,
      consoleDir: config.console === false ? undefined : typeof config.console === 'string' ? config.console : CONSOLE_DIR,
    });
    const metricsServer = config.metricsEndpoint
      ? await buildMetricsServer({ metrics, logger: logger.child({ component: 'metrics' }), timeouts: config.httpTimeouts })
      : undefined;
    // With several workers only one runs the scheduler (the others pass 0); with several nodes
    // on PostgreSQL, each tries and the one holding the store's lease runs it.
    const scheduler =
      config.schedulerIntervalMs === 0
        ? { stop: async () => {} }
        : startScheduler(deps, logger.child({ component: 'scheduler' }), {
            intervalMs: config.schedulerIntervalMs ?? 60_000,
            lease: services.leaderLease(),
          });
    return {
      server,
      metricsServer,
      metrics,
      deps,
      backend,
      store,
      ca,
      logger,
      audit,
      root,
      reloadXksPolicies: (policies) => xks.setAuthorizer(xksPolicyAuthorizer(policies)),
      async close() {
        await scheduler.stop();
        await server.close();
        await metricsServer?.close();
        kmsClient.destroy();
        for (const close of closers) await close();
        await audit?.close();
        unsubscribeMaterial();
        await services.close();
      },
    };
  } catch (error) {
    for (const close of closers) await close();
    await audit?.close();
    await services.close();
    throw error;
  }
}

/**
 * For the cluster primary with `--metrics-listen`: `GET /metrics` summed over the workers, and
 * `recycles` (workers replaced so far) when workers are recycled (not listening yet).
 */
export function createClusterMetricsServer(config: AppConfig, recycles?: () => number): Promise<FastifyInstance> {
  return buildMetricsServer({ metrics: clusterMetrics(recycles), logger: quietLogger(), timeouts: config.httpTimeouts });
}

/** With the trail off, events go nowhere. */
const NO_AUDIT: AuditSink = { record() {} };

/** The XKS proxy's per-prefix policies, compiled; a malformed one stops start-up naming its prefix. */
function xksPolicyAuthorizer(policies: AppConfig['xksPolicies']) {
  if (!policies || policies.size === 0) return undefined;
  try {
    return createXksPolicyAuthorizer(policies);
  } catch (error) {
    if (error instanceof XksPolicyError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * Certificates a crash of the machine took from the CA store after their issuance's audit
 * record was on disk, put back from the records after each chain's mark (whatever this run's
 * audit settings: an earlier run may have journaled). Before anything is served.
 */
async function restoreJournaledCertificates(caStore: CaStore, auditDir: string, logger: Logger): Promise<void> {
  if (!caStore.journalMarks || !caStore.restoreJournaled || !existsSync(auditDir)) return;
  const noted = notedAfter(auditDir, await caStore.journalMarks(), CERTIFICATE_JOURNAL.eventName, CERTIFICATE_JOURNAL.member);
  const certificates = noted.values.map(readJournalEntry).filter((record) => record !== undefined);
  const unreadable = noted.values.length - certificates.length;
  if (unreadable > 0) logger.error({ unreadable, auditDir }, 'issued-certificate entries in the audit trail that cannot be read were not restored (audit verify shows whether the trail was altered)');
  const restored = await caStore.restoreJournaled(certificates, noted.ends);
  if (restored > 0) logger.warn({ restored, auditDir }, 'issued certificates missing from the CA store after a crash were restored from the audit trail');
}

/** Opens this process's audit chain; a directory that cannot be used stops start-up with a message a person can act on. */
async function openAuditTrail(config: AppConfig, dataDir: string, backend: Pkcs11Backend, logger: Logger): Promise<ChainedAuditSink | undefined> {
  const options = config.audit ?? {};
  if (options.enabled === false) {
    logger.warn({}, 'audit trail is off: calls are not recorded');
    return undefined;
  }
  const dir = resolve(options.dir ?? join(dataDir, 'audit'));
  try {
    return await openChainedAuditSink({
      dir,
      nodeId: options.nodeId ?? defaultAuditNodeId(),
      signer: auditSignerOf(backend),
      failure: options.failure,
      sync: options.sync,
      digestEveryRecords: options.digestEveryRecords,
      digestEverySeconds: options.digestEverySeconds,
      maxFileBytes: options.maxFileBytes,
      logger,
    });
  } catch (error) {
    throw new ConfigError(`The audit trail in ${dir} cannot be opened: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** HTTPS through the TLS offload: the server's key signs handshakes in the HSM. */
function httpsServerFactory(
  hsm: Pkcs11BackendConfig,
  tls: NonNullable<AppConfig['tls']>,
  logger: Logger,
): NonNullable<Parameters<typeof buildServer>[0]['serverFactory']> {
  return (handler, serverOptions) => {
    const options = { ...serverOptions, hsm, certificates: [{ keyUri: tls.keyUri, cert: tls.cert }] };
    try {
      const server =
        tls.clientCa === undefined
          ? createHsmHttpsServer(options, handler)
          : tls.clientSubject
            ? createHsmHttpsServerWithClientCertificates(options, { ca: tls.clientCa, subject: tls.clientSubject }, handler)
            : undefined;
      if (!server) throw new ConfigError('A client CA needs the client certificate subject to require (--tls-client-subject).');
      logHandshakeFailures(server, logger);
      // The offload's own logins (a handshake that finds the login lost before the backend does)
      // use a PIN rotated in its file too, not the one read at start (src/cli/serve-pins.ts).
      const stopFollowing = followPin(hsm, server);
      server.once('close', stopFollowing);
      return server as unknown as HttpServer;
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
  // Every token gets --hsm-call-timeout, not only the default one.
  const callTimeout = config.hsm.callTimeoutMs === undefined ? {} : { callTimeoutMs: config.hsm.callTimeoutMs };
  if (id === undefined) return TokenXksKeys.open({ ...config.hsm, pin: () => readPinForLogin(config.hsm.pin) });
  const configured = config.clusters?.configured.find((c) => c.id === id);
  if (configured) {
    const pin = configured.pin;
    if (!pin) throw new ConfigError(`--xks-cluster ${id}: give the cluster a PIN with pin-source=file:/path in its pkcs11: URI.`);
    return TokenXksKeys.open({ ...configured, ...callTimeout, pin: () => readPinForLogin(pin) });
  }
  const embedded = config.clusters?.embeddedModule;
  if (!embedded) throw new ConfigError(`--xks-cluster ${id}: no cluster ${id} is configured.`);
  return TokenXksKeys.open({ modulePath: embedded, token: { label: id }, profile: 'softhsm2', ...callTimeout, pin: async () => rereadPin({ file: embeddedTokenPinFile(dataDir, id) }) });
}
