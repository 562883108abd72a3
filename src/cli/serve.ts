/** `hsmkms serve`: the KMS endpoint, in one process or one worker per core. */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Command, Option } from 'commander';
import { ConfigError } from '../config/hsm.js';
import type { AppConfig } from '../app.js';
import { DEFAULT_REQUEST_DEADLINE_MS } from '../core/deadline.js';
import { DEFAULT_HTTP_TIMEOUTS, resolveTimeouts, type HttpTimeouts } from '../http/timeouts.js';
import { parseListen, parseSeconds } from './listen.js';
import { EXIT } from './output.js';
import { addAuditOptions, auditConfigFrom, type AuditCliOptions } from './audit-options.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
import { readXksPolicies } from './xks-policy-options.js';
import { addStoreOptions, storeConfigFrom, type StoreCliOptions } from './store-options.js';

interface ServeOptions extends HsmCliOptions, ServiceCliOptions, AuditCliOptions, StoreCliOptions {
  requestDeadline: string;
  schedulerInterval: string;
  host: string;
  port: string;
  workers: string;
  recycleWorkerAfter?: string;
  logLevel: string;
  approvalRequestTtl: string;
  metricsListen?: string;
  requestTimeout: string;
  headersTimeout: string;
  idleTimeout: string;
  keepAliveTimeout: string;
  cluster: string[];
  xksCluster?: string;
  xksPolicy: string[];
  tlsKeyUri?: string;
  tlsCert?: string;
  tlsClientCa?: string;
  tlsClientSubject?: string;
  xksProxyTimeoutMs: string;
  console: boolean;
}

const seconds = (ms: number): string => String(ms / 1000);

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function serveCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const command = new Command('serve')
    .addOption(new Option('--host <host>', 'address to listen on').env('HSMKMS_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on').env('HSMKMS_PORT').default('7600'))
    .addOption(
      new Option('--workers <n>', 'worker processes sharing the port (PKCS#11 tokens such as SoftHSM2 scale with processes, not threads)')
        .env('HSMKMS_WORKERS')
        .default('1'),
    )
    .addOption(
      new Option(
        '--recycle-worker-after <n>',
        'replace a worker, without dropping a request, once it has made this many objects in the token (100–1000000000, or off); ' +
          'default 1000000 under the softhsm2 profile, which keeps a remnant of each until the process exits, off otherwise',
      ).env('HSMKMS_RECYCLE_WORKER_AFTER'),
    )
    .addOption(
      new Option('--log-level <level>', 'log level').env('HSMKMS_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .addOption(
      new Option('--approval-request-ttl <seconds>', 'how long a quorum approval request stays open (60–604800)')
        .env('HSMKMS_APPROVAL_REQUEST_TTL')
        .default('3600'),
    )
    .addOption(
      new Option('--metrics-listen <host:port>', 'serve Prometheus metrics (GET /metrics, unauthenticated) on this separate address, e.g. 127.0.0.1:9600 (default: off)').env(
        'HSMKMS_METRICS_LISTEN',
      ),
    )
    .addOption(
      new Option('--request-timeout <seconds>', 'close a connection whose request (headers and body) has not fully arrived by then')
        .env('HSMKMS_REQUEST_TIMEOUT')
        .default(seconds(DEFAULT_HTTP_TIMEOUTS.requestMs)),
    )
    .addOption(
      new Option('--headers-timeout <seconds>', 'close a connection whose request headers have not arrived by then (at most --request-timeout)')
        .env('HSMKMS_HEADERS_TIMEOUT')
        .default(seconds(DEFAULT_HTTP_TIMEOUTS.headersMs)),
    )
    .addOption(
      new Option('--idle-timeout <seconds>', 'close a connection on which nothing was sent or received for this long')
        .env('HSMKMS_IDLE_TIMEOUT')
        .default(seconds(DEFAULT_HTTP_TIMEOUTS.idleMs)),
    )
    .addOption(
      new Option('--keep-alive-timeout <seconds>', 'close an idle keep-alive connection between requests after this long')
        .env('HSMKMS_KEEP_ALIVE_TIMEOUT')
        .default(seconds(DEFAULT_HTTP_TIMEOUTS.keepAliveMs)),
    )
    .addOption(
      new Option(
        '--cluster <ID=MODULE_PATH:TOKEN_LABEL>',
        'a token that token-backed custom key stores (CloudHsmClusterId ID) may use; repeatable, also ID=pkcs11:token=…?module-path=…; ' +
          'env HSMKMS_CLUSTERS (comma-separated). With the embedded SoftHSM2, every token made by `hsmkms token init` is a cluster named by its label.',
      )
        .argParser(collect)
        .default([]),
    )
    .addOption(new Option('--tls-key-uri <uri>', "serve HTTPS with this key in the HSM, e.g. 'pkcs11:object=kms-tls' (made by hsmkms tls keygen)").env('HSMKMS_TLS_KEY_URI'))
    .addOption(new Option('--tls-cert <file>', 'certificate chain (PEM, leaf first) for --tls-key-uri').env('HSMKMS_TLS_CERT'))
    .addOption(new Option('--tls-client-ca <file>', 'CA (PEM) of client certificates; the XKS paths then require one, and a bad one ends the handshake').env('HSMKMS_TLS_CLIENT_CA'))
    .addOption(
      new Option('--tls-client-subject <name>', 'name (CN or DNS SAN) the client certificate must carry, e.g. cks.kms.us-east-1.amazonaws.com').env('HSMKMS_TLS_CLIENT_SUBJECT'),
    )
    .addOption(
      new Option('--xks-proxy-timeout-ms <ms>', "how long external key stores wait for their XKS proxy (AWS KMS's timeout is 250 ms)")
        .env('HSMKMS_XKS_PROXY_TIMEOUT_MS')
        .default('250'),
    )
    .addOption(
      new Option('--xks-cluster <id>', "the cluster whose token holds the XKS proxy's keys (default: the default store's token)").env('HSMKMS_XKS_CLUSTER'),
    )
    .addOption(
      new Option(
        '--xks-policy <PREFIX=FILE>',
        "the XKS proxy's secondary authorization: an IAM-style policy (JSON) over AWS KMS's requestMetadata for URI prefix PREFIX; repeatable; " +
          'env HSMKMS_XKS_POLICIES (comma-separated); the files are read again on SIGHUP',
      )
        .argParser(collect)
        .default([]),
    )
    .addOption(new Option('--no-console', 'do not serve the web console at /console (API only)'))
    .addOption(
      new Option('--request-deadline <seconds>', 'an API call that has not finished by then fails with DependencyTimeoutException (store and HSM waits included)')
        .env('HSMKMS_REQUEST_DEADLINE')
        .default(seconds(DEFAULT_REQUEST_DEADLINE_MS)),
    )
    .addOption(
      new Option('--scheduler-interval <seconds>', 'how often background work (deletion, rotation, expiry) looks for what is due; on PostgreSQL one node at a time runs it')
        .env('HSMKMS_SCHEDULER_INTERVAL')
        .default('60'),
    );
  addStoreOptions(addAuditOptions(addServiceOptions(addHsmOptions(command))));
  return command.action(async (options: ServeOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0–65535, got '${options.port}'.`);
    const workers = Number(options.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`--workers must be 1–64, got '${options.workers}'.`);
    const recycleAsked = recycleLimit(options.recycleWorkerAfter);
    const approvalRequestTtlSeconds = Number(options.approvalRequestTtl);
    if (!Number.isInteger(approvalRequestTtlSeconds) || approvalRequestTtlSeconds < 60 || approvalRequestTtlSeconds > 604_800)
      throw new ConfigError(`--approval-request-ttl must be 60–604800 seconds, got '${options.approvalRequestTtl}'.`);
    const schedulerIntervalMs = parseSeconds('--scheduler-interval', options.schedulerInterval);
    // Replication retries start no later than the next scheduler pass (a short interval in tests).
    const settings = { ...settingsFrom(options), approvalRequestTtlSeconds, replicationRetryMs: Math.min(30_000, schedulerIntervalMs) };
    const metricsListen = options.metricsListen === undefined ? undefined : parseListen('--metrics-listen', options.metricsListen);
    const httpTimeouts = timeoutsFrom(options);
    const [{ SOFTHSM2_MODULE }, { parseClusterList, parseClusterSpec }, { profileFor }] = await Promise.all([
      import('../backend/pkcs11/embedded-token.js'),
      import('../backend/pkcs11/cluster-tokens.js'),
      import('../backend/pkcs11/profiles.js'),
    ]);
    // Workers were started by the primary, which has reported progress already.
    const hsm = await resolveHsmConfig(options, cluster.isWorker ? undefined : progress);
    const recycleAfter = recycleAsked ?? profileFor(hsm.profile).recycleWorkerAfter;
    // Only a primary can replace a worker, so with recycling on (the softhsm2 profile's default)
    // even --workers 1 runs one worker under a small primary; only `--recycle-worker-after off`
    // (or a profile without it) leaves one process (README, "Worker recycling").
    const recycling = recycleAfter > 0;
    const clustered = workers > 1 || recycling;
    // Each worker writes its own audit chain (see src/audit/node-id.ts).
    const workerIndex = cluster.isWorker ? Number(process.env.HSMKMS_WORKER_INDEX ?? 0) : 0;
    const clusters = {
      configured: [...options.cluster.map(parseClusterSpec), ...parseClusterList(process.env.HSMKMS_CLUSTERS)],
      embeddedModule: options.module ? undefined : SOFTHSM2_MODULE,
    };
    const config: AppConfig = {
      dataDir: options.dataDir,
      hsm,
      store: storeConfigFrom(options),
      requestDeadlineMs: parseSeconds('--request-deadline', options.requestDeadline),
      settings,
      rootCredentials: rootCredentialsFromEnv(),
      logLevel: options.logLevel,
      httpTimeouts,
      // With workers, the primary serves the sum of theirs (see runPrimary).
      metricsEndpoint: metricsListen !== undefined && !cluster.isWorker,
      audit: auditConfigFrom(options, workerIndex, recycling),
      clusters,
      xksCluster: options.xksCluster,
      tls: tlsConfig(options),
      xksProxyTimeoutMs: proxyTimeout(options.xksProxyTimeoutMs),
      xksPolicies: readXksPolicies(options.xksPolicy, process.env.HSMKMS_XKS_POLICIES),
      console: options.console,
    };
    if (clustered && cluster.isPrimary) return runPrimary(config, workers, metricsListen, recycling ? recycleAfter : 0);

    // The server graph (HSM, store, HTTP) loads only now, not for --help (see main.ts), nor in a primary.
    const [{ createApp }, { shareWithClusterPrimary, sendFinalMetrics }] = await Promise.all([
      import('../app.js'),
      import('../observability/metrics.js'),
    ]);
    // A sole worker under a primary reports what a single process would (the primary prepares nothing).
    const reportsStartUp = cluster.isPrimary || (workers === 1 && process.env.HSMKMS_WORKER_RECYCLES === '0');

    // Only the first worker runs the background scheduler.
    const schedulerOff = cluster.isWorker && process.env.HSMKMS_WORKER_INDEX !== '0';
    let stop = (reason: string): void => process.exit(stoppedStatus(reason));
    const app = await createApp({
      ...config,
      schedulerIntervalMs: schedulerOff ? 0 : schedulerIntervalMs,
      // Like any command whose output pipe closes (`hsmkms serve | head`): stop quietly, status 0.
      onLogOutputClosed: () => stop(LOG_OUTPUT_CLOSED),
    });
    let replaced = false;
    stop = onShutdown(async () => {
      await app.close();
      // A replaced worker's counts stay in the primary's sum (the server closed: nothing more to count).
      if (replaced && metricsListen) await sendFinalMetrics(app.metrics);
    });
    onReloadSignal(() => {
      const policies = readXksPolicies(options.xksPolicy, process.env.HSMKMS_XKS_POLICIES);
      app.reloadXksPolicies(policies);
      return `XKS policies reloaded (${policies?.size ?? 0} URI prefixes)`;
    });
    if (cluster.isWorker && metricsListen) shareWithClusterPrimary(app.metrics);
    if (cluster.isWorker && recycling) {
      askToBeReplaced(() => app.backend.stats().tokenObjectsMade, recycleAfter, app.logger);
      process.on('message', (message: { hsmkms?: string }) => {
        if (message?.hsmkms !== RETIRE) return;
        replaced = true;
        retire(app.server.server, () => stop('replaced'), retireBoundMs(config));
      });
    }
    // A sole worker reports before it listens: its primary prints "listening on" once it does.
    if (reportsStartUp && cluster.isWorker) reportRoot(app.root);
    try {
      const listened = await app.server.listen({ host: options.host, port });
      // fastify names the scheme from its own https option; the HSM-keyed server is built outside it.
      const address = config.tls ? listened.replace(/^http:/, 'https:') : listened;
      const metricsAddress = app.metricsServer && metricsListen ? await app.metricsServer.listen(metricsListen) : undefined;
      if (reportsStartUp && cluster.isPrimary) reportRoot(app.root);
      if (cluster.isPrimary) {
        progress(`listening on ${address} (account ${settings.accountId}, region ${settings.region})`);
        if (options.console) progress(`web console at ${address}/console/`);
        if (metricsAddress) reportMetrics(metricsAddress);
      }
    } catch (error) {
      // A port in use: close the token and the store, or their handles keep the process alive.
      await app.close();
      throw error;
    }
  });
}

function timeoutsFrom(options: ServeOptions): HttpTimeouts {
  const timeouts = {
    requestMs: parseSeconds('--request-timeout', options.requestTimeout),
    headersMs: parseSeconds('--headers-timeout', options.headersTimeout),
    idleMs: parseSeconds('--idle-timeout', options.idleTimeout),
    keepAliveMs: parseSeconds('--keep-alive-timeout', options.keepAliveTimeout),
  };
  try {
    return resolveTimeouts(timeouts);
  } catch (error) {
    throw new ConfigError(`Check the timeouts: ${(error as Error).message}.`);
  }
}

function reportMetrics(address: string): void {
  progress(`metrics at ${address}/metrics (unauthenticated: keep this address private)`);
}

/** A worker asks the primary to be replaced; the primary tells the replaced worker to retire. */
const RECYCLE = 'recycle';
const RETIRE = 'retire';

/**
 * The primary prepares the data directory once, then forks workers that share the port. With
 * --metrics-listen it serves the workers' metrics summed, collected over the cluster's IPC. A
 * worker that asks to be recycled gets a replacement in its slot (same index, so the same
 * scheduler role); once that one listens, the old one retires (see {@link retire}).
 */
async function runPrimary(config: AppConfig, workers: number, metricsListen: { host: string; port: number } | undefined, recycleAfter: number): Promise<void> {
  // Several workers starting at once would race to make the root credentials and the audit key; a
  // sole worker (--workers 1, recycled) makes them itself, and the primary stays
  // small (it loads no HSM, store or HTTP code).
  if (workers > 1) reportRoot(await (await import('../app.js')).prepareDataDir(config));
  const recycled = () => slots.reduce((sum, slot) => sum + slot.recycles, 0);
  const metricsServer = metricsListen ? await (await import('../app.js')).createClusterMetricsServer(config, recycleAfter > 0 ? recycled : undefined) : undefined;
  let listening = 0;
  let closing = false;
  const restarts: number[] = [];
  let stopAll = (_reason: string): void => undefined;
  /** The worker serving each slot, the one starting to replace it, and the slot's replacements so far. */
  const slots: Array<{ worker: Worker; recycles: number; replacement?: Worker }> = [];
  const retiring = new WeakSet<Worker>();
  /** Workers whose server listens (their SIGHUP handler is in place), and starting ones a SIGHUP awaits. */
  const listened = new WeakSet<Worker>();
  const reloadOnListening = new WeakSet<Worker>();
  const fork = (index: number, recycles: number): Worker => {
    const worker = cluster.fork({ HSMKMS_WORKER_INDEX: String(index), HSMKMS_WORKER_RECYCLES: String(recycles) });
    worker.on('exit', (code, signal) => onExit(index, worker, code, signal));
    worker.on('message', (message: { hsmkms?: string; made?: number }) => {
      if (message?.hsmkms === RECYCLE && slots[index]?.worker === worker) replace(index, message.made ?? 0);
    });
    return worker;
  };
  const onExit = (index: number, worker: Worker, code: number | null, signal: string | null) => {
    const slot = slots[index]!;
    if (closing || retiring.has(worker)) return;
    if (slot.replacement === worker) {
      // The worker it was to replace serves on, and asks again later.
      slot.replacement = undefined;
      progress(`worker ${index}: its replacement exited (${signal ?? code}) before listening; worker ${index} serves on`);
      return;
    }
    // The log output (shared stdout) closed: the server stops, as one process would. Any other
    // exit — a crash, or a signal sent to the worker alone (SIGTERM ends a worker with status 0) —
    // costs that worker only: it is started again.
    if (code === WORKER_OUTPUT_CLOSED) return stopAll(LOG_OUTPUT_CLOSED);
    // Before the server first listened, a worker that exits failed to start (configuration, PIN,
    // audit directory): it would again.
    if (listening < workers) {
      progress(`worker ${index} could not start (${signal ?? code}); stopping`);
      closing = true;
      return void terminateAll().then(() => process.exit(EXIT.error));
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > 5) {
      // As any stop: the other workers finish their requests and close their audit chains. An
      // exit of the primary alone would end them at once (a worker exits when its channel to the
      // primary closes): requests cut off, calls done but not yet recorded, their chains' locks left.
      progress('workers keep failing; stopping');
      closing = true;
      return void terminateAll().then(() => process.exit(EXIT.error));
    }
    if (slot.replacement) {
      // Its replacement was starting already: it takes the slot.
      progress(`worker ${index} exited (${signal ?? code}); its replacement takes over`);
      slots[index] = { worker: slot.replacement, recycles: slot.recycles + 1 };
      return;
    }
    progress(`worker ${index} exited (${signal ?? code}); starting it again`);
    slots[index] = { worker: fork(index, slot.recycles), recycles: slot.recycles };
  };
  const replace = (index: number, made: number) => {
    const slot = slots[index]!;
    if (slot.replacement || closing) return;
    const old = slot.worker;
    const replacement = fork(index, slot.recycles + 1);
    slot.replacement = replacement;
    progress(`worker ${index} (pid ${old.process.pid}) has made ${made} token objects (limit ${recycleAfter}); starting its replacement (pid ${replacement.process.pid})`);
    // One that hangs while starting (a blocked HSM or store call) would hold the slot's recycling
    // (or, had the old worker died meanwhile, the slot) for ever: it is stopped, and the old worker
    // asks again (or the slot's worker is started again) as when a replacement fails.
    setTimeout(() => {
      if (closing || listened.has(replacement) || replacement.isDead()) return;
      progress(`worker ${index}: its replacement (pid ${replacement.process.pid}) did not listen within ${REPLACEMENT_START_MS / 1000} s; stopping it`);
      replacement.process.kill('SIGKILL');
    }, REPLACEMENT_START_MS).unref();
  };
  cluster.on('listening', (worker, address) => {
    listened.add(worker);
    if (reloadOnListening.has(worker)) worker.process.kill('SIGHUP');
    const index = slots.findIndex((slot) => slot.worker === worker || slot.replacement === worker);
    const slot = slots[index];
    if (slot?.replacement === worker) {
      const old = slot.worker;
      slots[index] = { worker, recycles: slot.recycles + 1 };
      retiring.add(old);
      // One whose channel has closed is exiting already (its exit event is still to come), and a
      // send to it would raise ERR_IPC_CHANNEL_CLOSED as an 'error' event no one handles: the primary would die.
      if (old.isConnected()) old.send({ hsmkms: RETIRE });
      progress(`worker ${index} replaced: pid ${worker.process.pid} listens; pid ${old.process.pid} finishes its requests and exits`);
      return;
    }
    if (++listening !== workers) return;
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    const url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
    const recycling = recycleAfter > 0 ? `, each replaced after ${recycleAfter} token objects` : '';
    progress(`listening on ${url} (${workers} worker${workers === 1 ? '' : 's'}${recycling}, account ${config.settings.accountId}, region ${config.settings.region})`);
    if (config.console) progress(`web console at ${url}/console/`);
  });
  for (let i = 0; i < workers; i++) slots.push({ worker: fork(i, 0), recycles: 0 });
  // Each worker reloads for itself (see onReloadSignal). One still starting (a replacement, a
  // restart) has no SIGHUP handler yet, and SIGHUP's default action would kill it: it gets the
  // signal once it listens (it may have read the files before this one came).
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker || worker.isDead()) continue;
      if (listened.has(worker)) worker.process.kill('SIGHUP');
      else reloadOnListening.add(worker);
    }
  });
  if (metricsServer && metricsListen) reportMetrics(await metricsServer.listen(metricsListen));
  const terminateAll = () =>
    Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  stopAll = onShutdown(async () => {
    closing = true;
    await metricsServer?.close();
    await terminateAll();
  });
}

/**
 * In a worker: once the objects made in the token reach `limit`, asks the primary for a
 * replacement; again a minute later should that one not have come (it failed to start).
 * Polled once a second, off the request path.
 */
function askToBeReplaced(made: () => number, limit: number, logger: { info(obj: object, msg?: string): void }): void {
  let askedAt = 0;
  setInterval(() => {
    const count = made();
    if (count < limit || Date.now() - askedAt < 60_000) return;
    askedAt = Date.now();
    logger.info({ tokenObjectsMade: count, limit }, 'worker asks to be replaced (--recycle-worker-after)');
    process.send?.({ hsmkms: RECYCLE, made: count });
  }, 1000).unref();
}

/**
 * The replaced worker first answers every request with `Connection: close` for {@link DRAIN_MS},
 * so that busy keep-alive connections end after their next answer rather than being closed under
 * a request the client is writing; then it stops accepting connections (the primary hands new
 * ones to its replacement), answers what is in flight and what still arrives on open connections
 * (again with `Connection: close`), closes idle keep-alive connections, closes the token and the
 * store, and exits. Should a connection outlive `boundMs` (every request is bounded by the request
 * timeout and deadline), it exits anyway.
 */
function retire(server: Server, stop: () => void, boundMs: number): void {
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (!response.headersSent) response.setHeader('Connection', 'close');
  });
  setTimeout(stop, DRAIN_MS);
  setTimeout(() => {
    progress(`worker ${process.env.HSMKMS_WORKER_INDEX ?? '?'}: connections still open ${boundMs} ms after it was replaced; exiting`);
    process.exit(EXIT.ok);
  }, DRAIN_MS + boundMs).unref();
}

/**
 * How long a replacement may take to listen (start-up took 17–18 s on the shared machine under
 * heavy load); less than the minute after which the worker it replaces asks again (see
 * {@link askToBeReplaced}), so that ask starts the next one.
 */
const REPLACEMENT_START_MS = 50_000;

/** How long a retiring worker closes connections only after an answer (see {@link retire}). */
const DRAIN_MS = 1000;

/** How long a retiring worker may take: the longest a request may take to arrive and to be answered, and then some. */
function retireBoundMs(config: AppConfig): number {
  return (config.httpTimeouts?.requestMs ?? DEFAULT_HTTP_TIMEOUTS.requestMs) + (config.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS) + 5_000;
}

/** `--recycle-worker-after`: undefined for the profile's default, 0 for off. */
function recycleLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === 'off' || value === '0') return 0;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 100 || n > 1_000_000_000)
    throw new ConfigError(`--recycle-worker-after must be a number of token objects from 100 to 1000000000, or off; got '${value.slice(0, 40)}'.`);
  return n;
}

function reportRoot(root: { accessKeyId: string; generated: boolean; file?: string | undefined }): void {
  if (root.generated) progress(`generated root credentials in ${root.file} (mode 0600)`);
  else if (root.file) progress(`root credentials: ${root.file}`);
  else progress(`root access key id: ${root.accessKeyId} (from HSMKMS_ROOT_ACCESS_KEY_ID)`);
}

/** Why a server stops when the pipe its logs go to closes (`hsmkms serve | head`). */
const LOG_OUTPUT_CLOSED = 'log output closed';
/**
 * A worker's exit status for {@link LOG_OUTPUT_CLOSED}, which its primary answers by stopping the
 * server with status 0; a worker's status 0 alone says only that it was asked to stop (a signal).
 */
const WORKER_OUTPUT_CLOSED = 3;

/** The exit status of a server process stopped for `reason`: a worker tells its primary why. */
function stoppedStatus(reason: string): number {
  return cluster.isWorker && reason === LOG_OUTPUT_CLOSED ? WORKER_OUTPUT_CLOSED : EXIT.ok;
}

/** Closes gracefully on SIGINT/SIGTERM; returns the same shutdown for other reasons to stop. */
function onShutdown(close: () => Promise<void>): (reason: string) => void {
  let closing = false;
  const shutdown = (reason: string) => {
    if (closing) return;
    closing = true;
    if (!cluster.isWorker) progress(`${reason}: shutting down`);
    close().then(
      () => process.exit(stoppedStatus(reason)),
      () => process.exit(EXIT.error),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return shutdown;
}

/**
 * SIGHUP re-reads what may change without a restart (today: the `--xks-policy` files). A file
 * that cannot be read or parsed is reported and what is in force stays; the server runs on.
 */
function onReloadSignal(reload: () => string): void {
  const who = cluster.isWorker ? `worker ${process.env.HSMKMS_WORKER_INDEX ?? '?'}: ` : '';
  process.on('SIGHUP', () => {
    try {
      progress(`${who}SIGHUP: ${reload()}`);
    } catch (error) {
      progress(`${who}SIGHUP: nothing reloaded, the configuration in force stays: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

function proxyTimeout(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 10 || ms > 60_000) throw new ConfigError(`--xks-proxy-timeout-ms must be 10–60000, got '${value}'.`);
  return ms;
}

/** The TLS options, with the files read (errors name the flag). */
function tlsConfig(options: ServeOptions): AppConfig['tls'] {
  const { tlsKeyUri, tlsCert, tlsClientCa, tlsClientSubject } = options;
  if (!tlsKeyUri && !tlsCert && !tlsClientCa && !tlsClientSubject) return undefined;
  if (!tlsKeyUri || !tlsCert) throw new ConfigError('HTTPS needs both --tls-key-uri (the key in the HSM) and --tls-cert (its certificate).');
  if (Boolean(tlsClientCa) !== Boolean(tlsClientSubject))
    throw new ConfigError('Client certificates need both --tls-client-ca and --tls-client-subject (e.g. cks.kms.us-east-1.amazonaws.com).');
  return {
    keyUri: tlsKeyUri,
    cert: readFileOrFail(tlsCert, '--tls-cert'),
    clientCa: tlsClientCa ? readFileOrFail(tlsClientCa, '--tls-client-ca') : undefined,
    clientSubject: tlsClientSubject,
  };
}

function readFileOrFail(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new ConfigError(`${flag}: cannot read ${file}.`);
  }
}

export function rootCredentialsFromEnv(): { accessKeyId: string; secretAccessKey: string } | undefined {
  const accessKeyId = process.env.HSMKMS_ROOT_ACCESS_KEY_ID;
  const secretAccessKey = process.env.HSMKMS_ROOT_SECRET_ACCESS_KEY;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey)
    throw new ConfigError('Set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, or neither.');
  return { accessKeyId, secretAccessKey };
}
