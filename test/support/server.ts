/**
 * Starts the whole service — the same composition root `hsmkms serve` uses — on the run's
 * token (as the test project configures it, test/support/hsm.ts), a fresh data directory and a free loopback port.
 *
 * With HSMKMS_TEST_DEPLOYMENT=three-nodes (the `three-nodes` project of vitest.config.ts sets
 * it) it starts a deployment instead: three `hsmkms serve` processes sharing the token and a
 * PostgreSQL store, behind a load balancer that sends each request to a random node
 * (test/support/deployment.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createApp, type App, type AppConfig } from '../../src/app.js';
import { startDeployment } from './deployment.js';
import type { Pkcs11BackendConfig } from '../../src/backend/pkcs11/index.js';
import { TEST_SETTINGS } from './kms-deps.js';
import { testHsmConfig } from './hsm.js';

export interface RunningServer {
  app: App;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  dataDir: string;
  /** Everything the service logged, for asserting that no secret leaks. */
  logs: () => string;
  close(): Promise<void>;
}

/**
 * `hsm`: overrides of the run's HSM configuration; `extra`: configuration beyond the defaults
 * (clusters for custom key stores, check intervals, TLS, the XKS proxy).
 */
export async function startServer(
  options: { hsm?: Partial<Pkcs11BackendConfig>; maxEd25519Keys?: number } & Partial<
    Pick<AppConfig, 'audit' | 'clusters' | 'keyStoreCheckIntervalMs' | 'tls' | 'xksCluster' | 'xksPolicies' | 'xksProxyTimeoutMs'>
  > = {},
): Promise<RunningServer> {
  if (process.env.HSMKMS_TEST_DEPLOYMENT === 'three-nodes') return startThreeNodes(options);
  const { hsm, maxEd25519Keys, ...extra } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-api-'));
  const credentials = {
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  const log = capturedLog();
  const app = await createApp({
    dataDir,
    settings: { ...TEST_SETTINGS, maxEd25519Keys },
    rootCredentials: credentials,
    logLevel: 'info',
    logDestination: log.destination,
    ...extra,
    hsm: { ...testHsmConfig(), ...hsm },
  });
  const address = await app.server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    endpoint: address,
    region: TEST_SETTINGS.region,
    credentials,
    dataDir,
    logs: log.text,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The same, as three nodes. `app` is a member of the deployment in the test process, as `hsmkms
 * ca …` or another offline command runs beside the nodes: the same data directory, store and
 * token, not listening, no scheduler. It gives the store and backend (for tests that set up
 * records directly), the CA (signing through its own in-process KMS API, as `hsmkms ca` does) and
 * its server for inject(); anything else of an App throws, since the nodes' own live in their
 * processes. Every API request a test sends goes to the load balancer.
 */
async function startThreeNodes(options: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  const { clusters, xksProxyTimeoutMs, maxEd25519Keys, ...unsupported } = options;
  const unsupportedKeys = Object.entries(unsupported).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (unsupportedKeys.length > 0) throw new Error(`startServer: ${unsupportedKeys.join(', ')} not supported in a three-node deployment`);
  const args = [
    ...(clusters?.configured ?? []).flatMap((c) => ['--cluster', `${c.id}=${c.modulePath}:${c.token.label}`]),
    ...(xksProxyTimeoutMs !== undefined ? ['--xks-proxy-timeout-ms', String(xksProxyTimeoutMs)] : []),
    ...(maxEd25519Keys !== undefined ? ['--max-ed25519-keys', String(maxEd25519Keys)] : []),
  ];
  const deployment = await startDeployment({ args });
  const log = capturedLog();
  let member: App;
  try {
    // Commands the test runs (`hsmkms principal …`) find the deployment's store.
    Object.assign(process.env, deployment.env);
    member = await createApp({
      dataDir: deployment.dataDir,
      hsm: testHsmConfig(),
      store: { kind: 'postgres', ...deployment.store },
      settings: TEST_SETTINGS,
      rootCredentials: deployment.credentials,
      logLevel: 'info',
      logDestination: log.destination,
      schedulerIntervalMs: 0,
      keyStoreCheckIntervalMs: 0,
      audit: { nodeId: 'test-process' },
      clusters,
      xksProxyTimeoutMs,
    });
  } catch (error) {
    await deployment.close();
    throw error;
  }
  const shared: ReadonlyArray<keyof App> = ['store', 'backend', 'ca', 'server'];
  const app = new Proxy(member, {
    get(target, property) {
      if (shared.includes(property as keyof App)) return target[property as keyof App];
      if (property === 'then') return undefined;
      throw new Error(`server.app.${String(property)} is not available in a three-node deployment (the nodes are separate processes)`);
    },
  });
  return {
    app,
    endpoint: deployment.endpoint,
    region: deployment.region,
    credentials: deployment.credentials,
    dataDir: deployment.dataDir,
    logs: () => [...deployment.nodes.map((n) => n.output()), log.text()].join(''),
    async close() {
      try {
        await member.close();
      } finally {
        await deployment.close();
      }
    },
  };
}

/** A log destination that keeps what is written, for asserting that no secret leaks. */
function capturedLog(): { destination: Writable; text(): string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { destination, text: () => chunks.join('') };
}
