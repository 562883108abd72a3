/**
 * Closing the service while an HSM call hangs (cloudhsm project: the interposer makes the hang):
 * close ends in bounded time instead of waiting forever on the thread stuck in the module.
 */
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { afterAll, expect, it } from 'vitest';
import { interposerControl } from '../../support/interposer.js';
import { startServer } from '../../support/server.js';

const control = interposerControl();
afterAll(() => {
  control.set([]);
  control.dispose();
});

it('closes while a call hangs in the module, without waiting for it', async () => {
  const server = await startServer({ hsm: { callTimeoutMs: 1000, poolSize: 2 } });
  const kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  try {
    const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const sign = () => kms.send(new SignCommand({ KeyId: keyId, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }));
    await sign();
    control.set(['hang=C_Sign count=1']);
    await expect(sign()).rejects.toMatchObject({ name: 'DependencyTimeoutException' });
    expect(server.app.backend.stats()).toMatchObject({ callThreadsStuck: 1 });
  } finally {
    kms.destroy();
  }
  const started = Date.now();
  const outcome = await Promise.race([server.close().then(() => 'closed'), new Promise((r) => setTimeout(r, 20_000).unref()).then(() => 'still closing')]);
  const ms = Date.now() - started;
  control.set([]); // lets the hung call return, whatever happened
  expect(outcome).toBe('closed');
  expect(ms).toBeLessThan(15_000);
}, 60_000);
