/**
 * A custom key store's token is bounded by the same `--hsm-call-timeout` as the default token:
 * a hung call on it fails in that time, not in the 30 s default. The cluster is reached through
 * the PKCS#11 interposer (test/pkcs11-interposer), which hangs the call on demand.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Pkcs11ClusterTokens } from '../../../src/backend/pkcs11/cluster-tokens.js';
import { HsmError } from '../../../src/backend/pkcs11/errors.js';
import type { ClusterConnection } from '../../../src/core/key-stores/ports.js';
import { createTestCluster, type TestCluster } from '../../support/clusters.js';
import { interposerControl } from '../../support/interposer.js';
import { env, tokenConfig } from './helpers.js';

const control = interposerControl();
const CALL_TIMEOUT_MS = 400;
let cluster: TestCluster;
let connection: ClusterConnection | undefined;

beforeAll(async () => {
  cluster = await createTestCluster('timeout');
});
afterAll(async () => {
  control.set([]);
  await connection?.close();
  control.dispose();
});

it('times out a hung call on a key store token after --hsm-call-timeout', async () => {
  const clusters = new Pkcs11ClusterTokens({
    // `generic`: every call but random runs off the event loop, where the timeout applies.
    configured: [{ id: 'slow', modulePath: env('HSMKMS_TEST_INTERPOSER'), token: { label: cluster.label }, profile: 'generic' }],
    defaultToken: tokenConfig(),
    callTimeoutMs: CALL_TIMEOUT_MS,
  });
  connection = await clusters.connect('slow', async () => cluster.userPin);
  const label = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
  const key = { label, reference: await connection.createKey(label) };
  await connection.encrypt(key, Buffer.from('warm'), Buffer.alloc(0));

  control.set(['hang=C_Encrypt count=1']);
  const started = Date.now();
  const error = await connection.encrypt(key, Buffer.from('x'), Buffer.alloc(0)).catch((e: unknown) => e);
  const waited = Date.now() - started;
  expect(error).toBeInstanceOf(HsmError);
  expect((error as HsmError).kind).toBe('timeout');
  // Far below the 30 s default the token got before; the margin absorbs a loaded machine.
  expect(waited).toBeLessThan(10_000);
  control.set([]);
});
