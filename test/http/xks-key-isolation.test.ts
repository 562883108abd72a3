/**
 * The XKS proxy and a token-backed custom key store on the same cluster (one CloudHSM cluster
 * doing both, as `--xks-cluster` allows): the KMS keys the custom key store made in that token
 * are labelled with their KMS key ids, like XKS keys with theirs. An XKS caller — who holds only
 * an XKS proxy credential — must not reach them: they answer to their key policy, grants, key
 * state and audit trail, none of which the XKS API checks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateCustomKeyStoreCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import { parseClusterSpec } from '../../src/backend/pkcs11/cluster-tokens.js';
import { TokenXksKeys } from '../../src/backend/pkcs11/xks-keys.js';
import { readPin } from '../../src/config/hsm.js';
import { createXksCredential, type NewXksCredential } from '../../src/xks/credentials.js';
import { createTestCluster, type TestCluster } from '../support/clusters.js';
import { startServer, type RunningServer } from '../support/server.js';
import { signedXksPost } from '../support/xks-request.js';

let server: RunningServer;
let kms: KMSClient;
let cluster: TestCluster;
let credential: NewXksCredential;
let pinDir: string;
const PREFIX = `shared-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  cluster = await createTestCluster('xksshare');
  pinDir = mkdtempSync(join(tmpdir(), 'hsmkms-xks-pin-'));
  const pinFile = join(pinDir, 'pin');
  writeFileSync(pinFile, cluster.userPin, { mode: 0o600 });
  const config = { ...parseClusterSpec(`${cluster.label}=${process.env.HSMKMS_TEST_MODULE}:${cluster.label}`), pin: { file: pinFile } };
  server = await startServer({ clusters: { configured: [config] }, xksCluster: cluster.label });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  credential = await createXksCredential(server.app.store, server.app.backend, PREFIX, new Date());
});
afterAll(async () => {
  kms?.destroy();
  await server?.close();
  if (pinDir) rmSync(pinDir, { recursive: true, force: true });
});

const xks = (path: string, body: Record<string, unknown>) => signedXksPost(server.endpoint, PREFIX, path, body, credential);

const requestMetadata = (kmsOperation: string) => ({
  kmsRequestId: randomBytes(8).toString('hex'),
  kmsOperation,
  awsPrincipalArn: 'arn:aws:iam::123456789012:user/Mallory',
  kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
});
const encryptBody = () => ({ requestMetadata: requestMetadata('Encrypt'), plaintext: Buffer.from('hello').toString('base64'), encryptionAlgorithm: 'AES_GCM' });

describe('the token of the XKS proxy (--xks-cluster)', () => {
  it('is no custom key store\'s cluster, and serves its own keys', async () => {
    const refused = await kms
      .send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'shared cluster', CloudHsmClusterId: cluster.label, KeyStorePassword: cluster.userPin }))
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'CloudHsmClusterNotFoundException' });

    const keys = await TokenXksKeys.open({ ...parseClusterSpec(`${cluster.label}=${process.env.HSMKMS_TEST_MODULE}:${cluster.label}`), pin: async () => readPin({ file: join(pinDir, 'pin') }) });
    try {
      await keys.create('shared-xks-key', { encrypt: true, decrypt: true });
    } finally {
      await keys.close();
    }
    expect((await xks('keys/shared-xks-key/encrypt', encryptBody())).status).toBe(200);
  });

  it('is no custom key store\'s cluster under another cluster id either: the server does not start', async () => {
    const spec = (id: string) => parseClusterSpec(`${id}=${process.env.HSMKMS_TEST_MODULE}:${cluster.label}`);
    const started = await startServer({
      clusters: { configured: [{ ...spec('for-xks'), pin: { file: join(pinDir, 'pin') } }, spec('for-keystores')] },
      xksCluster: 'for-xks',
    }).catch((e: unknown) => e);
    if (!(started instanceof Error)) await (started as RunningServer).close();
    expect(started instanceof Error ? started.message : 'the server started').toMatch(/for-keystores.*for-xks/);
  });
});
