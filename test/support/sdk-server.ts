/**
 * The set-up most API test files share: one server (test/support/server.ts) for the file's tests
 * and an AWS SDK v3 client for it without retries, started before them and closed after.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll } from 'vitest';
import { HsmKmsClient } from '../../src/client/hsmkms-client.js';
import { startServer, type RunningServer } from './server.js';

export interface SdkServer {
  readonly server: RunningServer;
  readonly kms: KMSClient;
}

/** Call at the top level of a test file; read `server` and `kms` inside its tests. */
export function sdkServer(): SdkServer {
  const handle = {} as { server: RunningServer; kms: KMSClient };
  beforeAll(async () => {
    handle.server = await startServer();
    handle.kms = new KMSClient({ endpoint: handle.server.endpoint, region: handle.server.region, credentials: handle.server.credentials, maxAttempts: 1 });
  });
  afterAll(async () => {
    handle.kms?.destroy();
    await handle.server?.close();
  });
  return handle;
}

/**
 * A principal made with HsmKms.CreatePrincipal (as root) and an SDK client that signs as it,
 * without retries; the caller destroys the client.
 */
export async function principalClient(server: RunningServer, userName: string, roles = ['CryptoUser']): Promise<{ arn: string; kms: KMSClient }> {
  const admin = new HsmKmsClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  const made = (await admin.call('CreatePrincipal', { UserName: userName, Roles: roles })) as { Arn: string; AccessKeyId: string; SecretAccessKey: string };
  const credentials = { accessKeyId: made.AccessKeyId, secretAccessKey: made.SecretAccessKey };
  return { arn: made.Arn, kms: new KMSClient({ endpoint: server.endpoint, region: server.region, credentials, maxAttempts: 1 }) };
}
