/**
 * The composition root: the one place that picks concrete classes (PKCS#11 backend, SQLite
 * store, fastify adapter, JSON-lines audit trail) and wires them into the KMS core.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { openPkcs11Backend, type Pkcs11Backend, type Pkcs11BackendConfig } from './backend/pkcs11/index.js';
import { openSqliteStore } from './store/sqlite/index.js';
import { openJsonlAuditSink } from './audit/index.js';
import { createDispatcher } from './core/dispatch.js';
import { allOperations } from './core/operations/index.js';
import { adminOperations } from './core/admin/index.js';
import { quorumOperations } from './core/quorum/operations/index.js';
import { createAuthorizerBinder } from './core/authorization/authorizer.js';
import { operationRegistry } from './core/registry.js';
import { startScheduler } from './core/scheduler.js';
import type { KmsDeps, KmsSettings, Operation } from './core/operation.js';
import type { Authorizer, Logger, MetadataStore } from './core/ports.js';
import { KmsError } from './core/errors.js';
import { buildServer } from './http/build-server.js';
import { createStoreCredentialResolver } from './auth/credentials.js';
import { ensureRootCredentials } from './auth/principals.js';
import { clusterMetrics, createMetrics, type Metrics } from './observability/metrics.js';
import { buildMetricsServer } from './http/metrics-server.js';
import type { HttpTimeouts } from './http/timeouts.js';
import { createLogger } from './observability/logger.js';

/** Every operation the API serves, by registry key (`Encrypt`, `HsmKms.CreatePrincipal`; see core/registry.ts). */
export const serviceOperations: ReadonlyMap<string, Operation> = operationRegistry(allOperations.values(), adminOperations, quorumOperations);

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
  /** Called when stdout, where the logs go, is a pipe whose reader has gone (the caller shuts down). */
  onLogOutputClosed?: () => void;
  /** Request, headers, idle and keep-alive timeouts of the HTTP listeners (defaults: DEFAULT_HTTP_TIMEOUTS). */
  httpTimeouts?: Partial<HttpTimeouts> | undefined;
  /** Build {@link App.metricsServer} (for `--metrics-listen`); the API listener never serves /metrics. */
  metricsEndpoint?: boolean;
  /** Serve the web console at /console (default true); a directory overrides where its build is. */
  console?: boolean | string;
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
  backend: Pkcs11Backend;
  store: MetadataStore;
  logger: Logger;
  root: { accessKeyId: string; generated: boolean; file?: string | undefined };
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

/**
 * Logs to stdout. pino stops writing once stdout's reader has gone (EPIPE) and says nothing;
 * `onClosed` lets the service stop too rather than serve on with its logs lost.
 */
function stdoutLogs(onClosed: (() => void) | undefined): pino.DestinationStream {
  const destination = pino.destination(1);
  if (onClosed) destination.on('error', (error: NodeJS.ErrnoException) => error.code === 'EPIPE' && onClosed());
  return destination;
}

/** A logger for commands: warnings and errors only, to stderr. */
export function quietLogger(): Logger {
  return createLogger({ level: 'warn' }, pino.destination(2)) as unknown as Logger;
}

/** Opens the backend and store and builds the (not yet listening) server. */
export async function createApp(config: AppConfig): Promise<App> {
  const dataDir = resolve(config.dataDir);
  const logger = createLogger({ level: config.logLevel ?? 'info' }, config.logDestination ?? stdoutLogs(config.onLogOutputClosed)) as unknown as Logger;
  const services = await openServices(dataDir, config.hsm, logger);
  const { backend, store } = services;
  const audit = openJsonlAuditSink({ path: join(dataDir, 'audit.log'), logger: logger.child({ component: 'audit' }) });
  try {
    const deps: KmsDeps = {
      store,
      backend,
      clock: { now: () => new Date() },
      audit,
      authorizer: unboundAuthorizer,
      settings: config.settings,
    };
    const root = await ensureRootCredentials(
      store,
      backend,
      config.settings,
      rootCredentialSource(config, dataDir),
    );
    const dispatcher = createDispatcher(deps, serviceOperations, logger.child({ component: 'kms' }), {
      bindAuthorizer: createAuthorizerBinder(deps),
    });
    const metrics = createMetrics({ stats: () => backend.stats() });
    const server = await buildServer({
      dispatcher,
      credentials: createStoreCredentialResolver(store, backend),
      settings: config.settings,
      health: () => backend.health(),
      metrics,
      logger,
      timeouts: config.httpTimeouts,
      consoleDir: config.console === false ? undefined : typeof config.console === 'string' ? config.console : CONSOLE_DIR,
    });
    const metricsServer = config.metricsEndpoint
      ? await buildMetricsServer({ metrics, logger: logger.child({ component: 'metrics' }), timeouts: config.httpTimeouts })
      : undefined;
    // With several workers only one runs the scheduler (the others pass 0).
    const scheduler =
      config.schedulerIntervalMs === 0
        ? { stop: async () => {} }
        : startScheduler(deps, logger.child({ component: 'scheduler' }), { intervalMs: config.schedulerIntervalMs ?? 60_000 });
    return {
      server,
      metricsServer,
      metrics,
      deps,
      backend,
      store,
      logger,
      root,
      async close() {
        await scheduler.stop();
        await server.close();
        await metricsServer?.close();
        await audit.close();
        await services.close();
      },
    };
  } catch (error) {
    await audit.close();
    await services.close();
    throw error;
  }
}

/** For the cluster primary with `--metrics-listen`: `GET /metrics` summed over the workers (not listening yet). */
export function createClusterMetricsServer(config: AppConfig): Promise<FastifyInstance> {
  return buildMetricsServer({ metrics: clusterMetrics(), logger: quietLogger(), timeouts: config.httpTimeouts });
}
