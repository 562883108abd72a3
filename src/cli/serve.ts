/** `hsmkms serve`: the KMS endpoint, in one process or one worker per core. */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { createApp, prepareDataDir, type AppConfig } from '../app.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
import { SOFTHSM2_MODULE } from '../backend/pkcs11/embedded-token.js';
import { parseClusterList, parseClusterSpec } from '../backend/pkcs11/cluster-tokens.js';

interface ServeOptions extends HsmCliOptions, ServiceCliOptions {
  host: string;
  port: string;
  workers: string;
  logLevel: string;
  cluster: string[];
  xksCluster?: string;
  tlsKeyUri?: string;
  tlsCert?: string;
  tlsClientCa?: string;
  tlsClientSubject?: string;
  xksProxyTimeoutMs: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('Serve the AWS KMS API (awsJson1_1 + SigV4) backed by the HSM.')
    .addOption(new Option('--host <host>', 'address to listen on').env('HSMKMS_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on').env('HSMKMS_PORT').default('7600'))
    .addOption(
      new Option('--workers <n>', 'worker processes sharing the port (PKCS#11 tokens such as SoftHSM2 scale with processes, not threads)')
        .env('HSMKMS_WORKERS')
        .default('1'),
    )
    .addOption(
      new Option('--log-level <level>', 'log level').env('HSMKMS_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
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
    );
  addServiceOptions(addHsmOptions(command));
  return command.action(async (options: ServeOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0–65535, got '${options.port}'.`);
    const workers = Number(options.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`--workers must be 1–64, got '${options.workers}'.`);
    const settings = settingsFrom(options);
    // Workers were started by the primary, which has reported progress already.
    const hsm = await resolveHsmConfig(options, cluster.isWorker ? undefined : progress);
    const clusters = {
      configured: [...options.cluster.map(parseClusterSpec), ...parseClusterList(process.env.HSMKMS_CLUSTERS)],
      embeddedModule: options.module ? undefined : SOFTHSM2_MODULE,
    };
    const config: AppConfig = { dataDir: options.dataDir, hsm, settings, rootCredentials: rootCredentialsFromEnv(), logLevel: options.logLevel, clusters, xksCluster: options.xksCluster, tls: tlsConfig(options), xksProxyTimeoutMs: proxyTimeout(options.xksProxyTimeoutMs) };
    if (workers > 1 && cluster.isPrimary) return runPrimary(config, workers);

    // Only the first worker runs the background scheduler.
    const schedulerOff = cluster.isWorker && process.env.HSMKMS_WORKER_INDEX !== '0';
    const app = await createApp({ ...config, schedulerIntervalMs: schedulerOff ? 0 : undefined });
    const listened = await app.server.listen({ host: options.host, port });
    // fastify names the scheme from its own https option; the HSM-keyed server is built outside it.
    const address = config.tls ? listened.replace(/^http:/, 'https:') : listened;
    if (cluster.isPrimary) {
      reportRoot(app.root);
      progress(`listening on ${address} (account ${settings.accountId}, region ${settings.region})`);
    }
    onShutdown(() => app.close());
  });
}

/** The primary prepares the data directory once, then forks workers that share the port. */
async function runPrimary(config: AppConfig, workers: number): Promise<void> {
  reportRoot(await prepareDataDir(config));
  let listening = 0;
  let closing = false;
  const restarts: number[] = [];
  const fork = (index: number) => cluster.fork({ HSMKMS_WORKER_INDEX: String(index) }).on('exit', (code, signal) => {
    if (closing) return;
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > 5) {
      progress('workers keep failing; stopping');
      process.exit(1);
    }
    progress(`worker ${index} exited (${signal ?? code}); starting it again`);
    fork(index);
  });
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers)
      progress(
        `listening on ${config.tls ? 'https' : 'http'}://${address.address}:${address.port} (${workers} workers, account ${config.settings.accountId}, region ${config.settings.region})`,
      );
  });
  for (let i = 0; i < workers; i++) fork(i);
  onShutdown(async () => {
    closing = true;
    await Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  });
}

function reportRoot(root: { accessKeyId: string; generated: boolean; file?: string | undefined }): void {
  if (root.generated) progress(`generated root credentials in ${root.file} (mode 0600)`);
  else if (root.file) progress(`root credentials: ${root.file}`);
  else progress(`root access key id: ${root.accessKeyId} (from HSMKMS_ROOT_ACCESS_KEY_ID)`);
}

function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    if (!cluster.isWorker) progress(`${signal}: shutting down`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
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

function rootCredentialsFromEnv(): { accessKeyId: string; secretAccessKey: string } | undefined {
  const accessKeyId = process.env.HSMKMS_ROOT_ACCESS_KEY_ID;
  const secretAccessKey = process.env.HSMKMS_ROOT_SECRET_ACCESS_KEY;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey)
    throw new ConfigError('Set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, or neither.');
  return { accessKeyId, secretAccessKey };
}
