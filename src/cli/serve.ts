/** `hsmkms serve`: the KMS endpoint, in one process or one worker per core. */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Command, Option } from 'commander';
import { ConfigError } from '../config/hsm.js';
import type { AppConfig } from '../app.js';
import { DEFAULT_REQUEST_DEADLINE_MS } from '../core/deadline.js';
import { DEFAULT_MAX_ED25519_KEYS } from '../core/operation.js';
import { DEFAULT_HTTP_TIMEOUTS, resolveTimeouts, type HttpTimeouts } from '../http/timeouts.js';
import { parseListen, parseSeconds } from './listen.js';
import { EXIT } from './output.js';
import { addAuditOptions, auditConfigFrom, type AuditCliOptions } from './audit-options.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { DEFAULT_TOKEN_PIN, holdPins, type HeldPins } from './serve-pins.js';
import { addServiceOptions, logLevelOption, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
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
  maxEd25519Keys: string;
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
  shutdownTimeout?: string;
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
    .addOption(logLevelOption())
    .addOption(
      new Option('--approval-request-ttl <seconds>', 'how long a quorum approval request stays open (60–604800)')
        .env('HSMKMS_APPROVAL_REQUEST_TTL')
        .default('3600'),
    )
    .addOption(
      new Option('--max-ed25519-keys <n>', 'the most ECC_NIST_EDWARDS25519 keys the service holds, each an object of its own in the HSM (0–1000000)')
        .env('HSMKMS_MAX_ED25519_KEYS')
        .default(String(DEFAULT_MAX_ED25519_KEYS)),
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
      new Option(
        '--shutdown-timeout <seconds>',
        'on SIGTERM/SIGINT, how long requests in flight may take to finish and the token and store to close; then workers still running are killed and the server exits with status 1 (default: --request-deadline + 15)',
      ).env('HSMKMS_SHUTDOWN_TIMEOUT'),
    )
    .addOption(
      new Option('--scheduler-interval <seconds>', 'how often background work (deletion, rotation, expiry) looks for what is due; on PostgreSQL one node at a time runs it')
        .env('HSMKMS_SCHEDULER_INTERVAL')
        .default('60'),
    );
  addStoreOptions(addAuditOptions(addServiceOptions(addHsmOptions(command))));
  return command.action(async (options: ServeOptions) => {
    process.on('SIGHUP', hangupWhileStarting);
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0–65535, got '${options.port}'.`);
    const workers = Number(options.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`--workers must be 1–64, got '${options.workers}'.`);
    const recycleAsked = recycleLimit(options.recycleWorkerAfter);
    const approvalRequestTtlSeconds = Number(options.approvalRequestTtl);
    if (!Number.isInteger(approvalRequestTtlSeconds) || approvalRequestTtlSeconds < 60 || approvalRequestTtlSeconds > 604_800)
      throw new ConfigError(`--approval-request-ttl must be 60–604800 seconds, got '${options.approvalRequestTtl}'.`);
    const maxEd25519Keys = Number(options.maxEd25519Keys);
    if (!/^\d+$/.test(options.maxEd25519Keys) || maxEd25519Keys > 1_000_000) throw new ConfigError(`--max-ed25519-keys must be 0–1000000, got '${options.maxEd25519Keys}'.`);
    const schedulerIntervalMs = parseSeconds('--scheduler-interval', options.schedulerInterval);
    // Replication retries start no later than the next scheduler pass (a short interval in tests).
    const settings = { ...settingsFrom(options), approvalRequestTtlSeconds, maxEd25519Keys, replicationRetryMs: Math.min(30_000, schedulerIntervalMs) };
    const metricsListen = options.metricsListen === undefined ? undefined : parseListen('--metrics-listen', options.metricsListen);
    const httpTimeouts = timeoutsFrom(options);
    const requestDeadlineMs = parseSeconds('--request-deadline', options.requestDeadline);
    const shutdownMs = options.shutdownTimeout === undefined ? requestDeadlineMs + 15_000 : parseSeconds('--shutdown-timeout', options.shutdownTimeout);
    const [{ SOFTHSM2_MODULE }, { parseClusterList, parseClusterSpec }, { profileFor }] = await Promise.all([
      import('../backend/pkcs11/embedded-token.js'),
      import('../backend/pkcs11/cluster-tokens.js'),
      import('../backend/pkcs11/profiles.js'),
    ]);
    // Workers were started by the primary, which has reported progress already.
    const resolved = await resolveHsmConfig(options, cluster.isWorker ? undefined : progress);
    const configured = [...options.cluster.map(parseClusterSpec), ...parseClusterList(process.env.HSMKMS_CLUSTERS)];
    // The PINs are read once, by the primary or the single process, and held; workers get them
    // over their IPC channel (see serve-pins.ts): the default token's, and the XKS proxy's cluster's.
    const xksClusterPin = configured.find((c) => c.id === options.xksCluster)?.pin;
    const { pins, primary: heldPins } = await holdPins(
      new Map([[DEFAULT_TOKEN_PIN, resolved.pin], ...(options.xksCluster !== undefined && xksClusterPin ? [[options.xksCluster, xksClusterPin] as const] : [])]),
    );
    const hsm = { ...resolved, pin: pins.get(DEFAULT_TOKEN_PIN)! };
    const recycleAfter = recycleAsked ?? profileFor(hsm.profile).recycleWorkerAfter;
    // Only a primary can replace a worker, so with recycling on (the softhsm2 profile's default)
    // even --workers 1 runs one worker under a small primary; only `--recycle-worker-after off`
    // (or a profile without it) leaves one process (README, "Worker recycling").
    const recycling = recycleAfter > 0;
    const clustered = workers > 1 || recycling;
    // Each worker writes its own audit chain (see src/audit/node-id.ts).
    const workerIndex = cluster.isWorker ? Number(process.env.HSMKMS_WORKER_INDEX ?? 0) : 0;
    const clusters = {
      configured: configured.map((c) => ({ ...c, pin: pins.get(c.id) ?? c.pin })),
      embeddedModule: options.module ? undefined : SOFTHSM2_MODULE,
    };
    const config: AppConfig = {
      dataDir: options.dataDir,
      hsm,
      store: storeConfigFrom(options),
      requestDeadlineMs,
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
    if (clustered && cluster.isPrimary) return runPrimary(config, heldPins!, workers, metricsListen, recycling ? recycleAfter : 0, shutdownMs);

    // The server graph (HSM, store, HTTP) loads only now, not for --help (see main.ts), nor in a primary.
    const [{ createApp }, { shareWithClusterPrimary, sendFinalMetrics }, { listenOnAll }] = await Promise.all([
      import('../app.js'),
      import('../observability/metrics.js'),
      import('../http/build-server.js'),
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
    stop = onShutdown(
      async () => {
        await app.close();
        // A replaced worker's counts stay in the primary's sum (the server closed: nothing more to count).
        if (replaced && metricsListen) await sendFinalMetrics(app.metrics);
      },
      // A worker's shutdown is bounded by its primary, which kills it.
      cluster.isWorker ? undefined : shutdownMs,
    );
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
      // A name such as localhost may stand for several addresses (127.0.0.1 and ::1): one socket each.
      // With --port 0, a worker started when none listens binds the port the server got (see runPrimary).
      const listenPort = port === 0 && cluster.isWorker ? Number(process.env.HSMKMS_WORKER_PORT ?? 0) : port;
      const urls = await listenOnAll(app.server, options.host, listenPort, config.tls !== undefined);
      // The primary reports readiness once every worker has told it where it listens.
      if (cluster.isWorker) process.send?.({ hsmkms: LISTENING, urls });
      const metricsAddress = app.metricsServer && metricsListen ? await app.metricsServer.listen(metricsListen) : undefined;
      if (reportsStartUp && cluster.isPrimary) reportRoot(app.root);
      if (cluster.isPrimary) {
        progress(`listening on ${urls.join(' and ')} (account ${settings.accountId}, region ${settings.region})`);
        if (options.console) progress(`web console at ${urls[0]}/console/`);
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

/** The port of a URL a worker listens at (undefined should it say none). */
function portFrom(url: string | undefined): number | undefined {
  try {
    const port = Number(new URL(url ?? '').port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function reportMetrics(address: string): void {
  progress(`metrics at ${address}/metrics (unauthenticated: keep this address private)`);
}

/**
 * The messages between a worker and its primary (IPC): a worker asks to be replaced (RECYCLE),
 * asks for a PIN (see serve-pins.ts) and says where it listens (LISTENING); the
 * primary tells a replaced worker to retire (RETIRE).
 */
const RECYCLE = 'recycle';
const RETIRE = 'retire';
const LISTENING = 'listening';

/** More than this many restarts (over all slots) within {@link RESTART_WINDOW_MS} stop the server. */
const RESTART_BURST = 5;
const RESTART_WINDOW_MS = 60_000;
/** The first restart within the window waits this long, each next one (of any slot) twice as long as the one before. */
const RESTART_DELAY_MS = 500;

/**
 * The primary prepares the data directory once, then forks workers that share the port. With
 * --metrics-listen it serves the workers' metrics summed, collected over the cluster's IPC. A
 * worker that asks to be recycled gets a replacement in its slot (same index, so the same
 * scheduler role); once that one listens, the old one retires (see {@link retire}). A worker that
 * exits on its own is started again after a growing delay, and too many restarts stop the server;
 * a shutdown that takes longer than `shutdownMs` kills the workers still running.
 */
async function runPrimary(
  config: AppConfig,
  pins: HeldPins,
  workers: number,
  metricsListen: { host: string; port: number } | undefined,
  recycleAfter: number,
  shutdownMs: number,
): Promise<void> {
  // Several workers starting at once would race to make the root credentials and the audit key; a
  // sole worker (--workers 1, recycled) makes them itself, and the primary stays
  // small (it loads no HSM, store or HTTP code).
  if (workers > 1) reportRoot(await (await import('../app.js')).prepareDataDir(config));
  const recycled = () => slots.reduce((sum, slot) => sum + slot.recycles, 0);
  const metricsServer = metricsListen ? await (await import('../app.js')).createClusterMetricsServer(config, recycleAfter > 0 ? recycled : undefined) : undefined;
  let closing = false;
  /** When workers exited on their own (over all slots), within the last {@link RESTART_WINDOW_MS}. */
  const restarts: number[] = [];
  let stopAll = (_reason: string): void => undefined;
  /** The worker serving each slot, the one starting to replace it, and the slot's replacements so far. */
  const slots: Array<{ worker: Worker; recycles: number; replacement?: Worker }> = [];
  const retiring = new WeakSet<Worker>();
  /** Workers whose server listens (their SIGHUP handler is in place), and starting ones a SIGHUP awaits. */
  const listened = new WeakSet<Worker>();
  const reloadOnListening = new WeakSet<Worker>();
  /** Slots whose first worker has listened: the server is ready once all have. */
  const ready = new Set<number>();
  /**
   * With --port 0, the port the server got, and the port each worker was told to bind (0: any).
   * Workers binding the same port share one socket, which the primary closes once the last of them
   * has gone: a worker started while others listen binds what they bound (it shares their socket,
   * whose port is the server's), one started when none does (a sole worker started again) binds
   * the server's port, rather than any, which would move the server to a new one.
   */
  let serverPort: number | undefined;
  const portOf = new WeakMap<Worker, number>();
  const fork = (index: number, recycles: number): Worker => {
    const listening = Object.values(cluster.workers ?? {}).find((w): w is Worker => w !== undefined && !w.isDead() && listened.has(w));
    const port = listening ? (portOf.get(listening) ?? 0) : (serverPort ?? 0);
    const worker = cluster.fork({ HSMKMS_WORKER_INDEX: String(index), HSMKMS_WORKER_RECYCLES: String(recycles), HSMKMS_WORKER_PORT: String(port) });
    portOf.set(worker, port);
    worker.on('exit', (code, signal) => onExit(index, worker, code, signal));
    worker.on('message', (message: { hsmkms?: string; made?: number; urls?: string[] }) => {
      if (pins.answer(worker, message)) return;
      if (message?.hsmkms === LISTENING) onListening(worker, message.urls ?? []);
      else if (message?.hsmkms === RECYCLE && slots[index]?.worker === worker) replace(index, message.made ?? 0);
    });
    return worker;
  };
  /** Stops the server for a reason given in `why`, with status 1. */
  const fail = (why: string) => {
    if (closing) return;
    progress(`${why}; stopping`);
    closing = true;
    // A worker that does not stop in time is killed (see terminateAll).
    void Promise.allSettled([metricsServer?.close(), terminateAll()]).then(() => process.exit(EXIT.error));
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
    if (slot.worker !== worker) return;
    // The log output (shared stdout) closed: the server stops, as one process would. Any other
    // exit — a crash, or a signal sent to the worker alone (SIGTERM ends a worker with status 0) —
    // costs that worker only: it is started again.
    if (code === WORKER_OUTPUT_CLOSED) return stopAll(LOG_OUTPUT_CLOSED);
    // Before the server first listened, a worker that exits failed to start (configuration, PIN,
    // audit directory): it would again.
    if (ready.size < workers) return fail(`worker ${index} could not start (${signal ?? code})`);
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
    // As systemd's StartLimitBurst: a worker that fails at once every time it starts (a token
    // gone, a file only a worker reads) would otherwise be started again for ever.
    if (restarts.length > RESTART_BURST)
      return fail(
        `worker ${index} exited (${signal ?? code}): ${restarts.length} workers exited within ${RESTART_WINDOW_MS / 1000} s (at most ${RESTART_BURST} are started again); see the workers' errors above`,
      );
    if (slot.replacement) {
      // Its replacement was starting already: it takes the slot.
      progress(`worker ${index} exited (${signal ?? code}); its replacement takes over`);
      slots[index] = { worker: slot.replacement, recycles: slot.recycles + 1 };
      return;
    }
    const delayMs = RESTART_DELAY_MS * 2 ** (restarts.length - 1);
    progress(`worker ${index} exited (${signal ?? code}); starting it again in ${delayMs / 1000} s (restart ${restarts.length} of at most ${RESTART_BURST} within ${RESTART_WINDOW_MS / 1000} s)`);
    setTimeout(() => {
      if (closing || slots[index]?.worker !== worker) return;
      const restarted = fork(index, slot.recycles);
      slots[index] = { worker: restarted, recycles: slot.recycles };
      // Killed, its exit counts as any other towards the restart limit.
      boundStart(restarted, `worker ${index} (pid ${restarted.process.pid}, started again)`);
    }, delayMs);
  };
  /**
   * A worker started after the server first listened — a restart, a replacement — that hangs while
   * starting (a blocked HSM or store call: PKCS#11 cannot cancel one) would hold its slot, or the
   * slot's recycling, for ever: after {@link WORKER_START_MS} it is killed, saying why. Its exit is
   * then handled as any other: a restart's counts towards the restart limit (and the slot is
   * started again), a replacement's leaves the old worker serving, to ask again.
   */
  const boundStart = (worker: Worker, who: string) => {
    setTimeout(() => {
      if (closing || listened.has(worker) || worker.isDead()) return;
      progress(`${who} did not listen within ${WORKER_START_MS / 1000} s; stopping it`);
      worker.process.kill('SIGKILL');
    }, WORKER_START_MS).unref();
  };
  const replace = (index: number, made: number) => {
    const slot = slots[index]!;
    if (slot.replacement || closing) return;
    const old = slot.worker;
    const replacement = fork(index, slot.recycles + 1);
    slot.replacement = replacement;
    progress(`worker ${index} (pid ${old.process.pid}) has made ${made} token objects (limit ${recycleAfter}); starting its replacement (pid ${replacement.process.pid})`);
    boundStart(replacement, `worker ${index}: its replacement (pid ${replacement.process.pid})`);
  };
  /** A worker listens on all its addresses (one message, however many addresses the host names). */
  const onListening = (worker: Worker, urls: string[]) => {
    listened.add(worker);
    serverPort ??= portFrom(urls[0]);
    if (reloadOnListening.has(worker)) worker.process.kill('SIGHUP');
    const index = slots.findIndex((slot) => slot.worker === worker || slot.replacement === worker);
    const slot = slots[index];
    if (!slot) return;
    if (slot.replacement === worker) {
      const old = slot.worker;
      slots[index] = { worker, recycles: slot.recycles + 1 };
      retiring.add(old);
      // One whose channel has closed is exiting already (its exit event is still to come), and a
      // send to it would raise ERR_IPC_CHANNEL_CLOSED as an 'error' event no one handles: the primary would die.
      if (old.isConnected()) old.send({ hsmkms: RETIRE });
      progress(`worker ${index} replaced: pid ${worker.process.pid} listens; pid ${old.process.pid} finishes its requests and exits`);
      return;
    }
    if (ready.has(index)) return;
    ready.add(index);
    if (ready.size !== workers) return;
    const recycling = recycleAfter > 0 ? `, each replaced after ${recycleAfter} token objects` : '';
    progress(`listening on ${urls.join(' and ')} (${workers} worker${workers === 1 ? '' : 's'}${recycling}, account ${config.settings.accountId}, region ${config.settings.region})`);
    if (config.console) progress(`web console at ${urls[0]}/console/`);
  };
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
  // Only now: with no listener left for a moment, Node would stop watching SIGHUP and drop one pending.
  process.off('SIGHUP', hangupWhileStarting);
  if (metricsServer && metricsListen) reportMetrics(await metricsServer.listen(metricsListen));
  let terminated: Promise<void> | undefined;
  /**
   * SIGTERM to every worker, each of which finishes its requests and closes its token and store;
   * one still running after `shutdownMs` (hung in an HSM call, stopped, deaf to signals) is killed.
   * Resolves once all have exited; rejects if any had to be killed.
   */
  const terminateAll = (): Promise<void> => {
    terminated ??= (async () => {
      const running = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined && !worker.isDead());
      const exited = running.map((worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))));
      for (const worker of running) worker.process.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        Promise.all(exited).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), shutdownMs))),
      ]);
      clearTimeout(timer);
      if (!late) return;
      const hung = running.filter((worker) => !worker.isDead());
      progress(
        `shutdown: ${hung.map((worker) => `worker pid ${worker.process.pid}`).join(', ')} did not stop within ${shutdownMs / 1000} s (--shutdown-timeout); ` +
          `killed ${hung.length === 1 ? 'it' : 'them'}, exiting with status ${EXIT.error}`,
      );
      for (const worker of hung) worker.process.kill('SIGKILL');
      await Promise.all(exited);
      // The requests they had in flight failed: not a clean stop.
      throw new Error('workers killed');
    })();
    return terminated;
  };
  stopAll = onShutdown(
    async () => {
      closing = true;
      await Promise.all([metricsServer?.close(), terminateAll()]);
    },
    // terminateAll kills a worker that takes too long; this bounds the rest (the metrics server).
    shutdownMs + 5_000,
  );
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
 * How long a worker started again or a replacement may take to listen (start-up took 17–18 s on
 * the shared machine under heavy load); less than the minute after which the worker a replacement
 * is for asks again (see {@link askToBeReplaced}), so that ask starts the next one.
 */
const WORKER_START_MS = 50_000;

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

/**
 * Closes gracefully on SIGINT/SIGTERM, exiting with status 1 should that take over `boundMs`;
 * returns the same shutdown for other reasons to stop.
 */
function onShutdown(close: () => Promise<void>, boundMs?: number): (reason: string) => void {
  let closing = false;
  const shutdown = (reason: string) => {
    if (closing) return;
    closing = true;
    if (!cluster.isWorker) progress(`${reason}: shutting down`);
    // Requests in flight, the token and the store each have bounds of their own; this one holds
    // should any fail (a PKCS#11 call that never returns, a stopped worker).
    if (boundMs !== undefined)
      setTimeout(() => {
        progress(`shutdown did not finish within ${boundMs / 1000} s (--shutdown-timeout); exiting with status ${EXIT.error}`);
        process.exit(EXIT.error);
      }, boundMs);
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
 * SIGHUP before the server handles it (onReloadSignal, runPrimary): while it starts — waiting for
 * a FIFO's PIN, logging in, migrating the store — SIGHUP's default action would end the process,
 * silently (a `systemctl reload` just after start). Nothing is loaded yet, so nothing needs reloading.
 */
function hangupWhileStarting(): void {
  const who = cluster.isWorker ? `worker ${process.env.HSMKMS_WORKER_INDEX ?? '?'}: ` : '';
  progress(`${who}SIGHUP during start-up: nothing to reload yet (the files are read as the server starts)`);
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
  // After the listener above is in place: see runPrimary.
  process.off('SIGHUP', hangupWhileStarting);
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
