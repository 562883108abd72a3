/**
 * Starts the whole service — the same composition root `hsmkms serve` uses — on the run's
 * token (as the test project configures it, test/support/hsm.ts), a fresh data directory and a free loopback port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createApp, type App, type AppConfig } from '../../src/app.js';
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
  options: { hsm?: Partial<Pkcs11BackendConfig> } & Partial<Pick<AppConfig, 'audit' | 'clusters' | 'keyStoreCheckIntervalMs' | 'tls' | 'xksCluster' | 'xksPolicies' | 'xksProxyTimeoutMs'>> = {},
): Promise<RunningServer> {
  const { hsm, ...extra } = options;
  const dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-api-'));
  const credentials = {
    accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  const chunks: string[] = [];
  const logDestination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const app = await createApp({
    dataDir,
    settings: TEST_SETTINGS,
    rootCredentials: credentials,
    logLevel: 'info',
    logDestination,
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
    logs: () => chunks.join(''),
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
