/**
 * Closing the service while an HSM call hangs (cloudhsm project: the interposer makes the hang):
 * close ends in bounded time instead of waiting forever on the thread stuck in the module.
 */
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import pkcs11js from 'pkcs11js';
import { afterAll, expect, it } from 'vitest';
import { CryptokiThreads } from '../../../src/backend/pkcs11/cryptoki-threads.js';
import type { HsmConfig } from '../../../src/config/hsm.js';
import { env } from '../../support/hsm.js';
import { interposerControl } from '../../support/interposer.js';
import { startServer } from '../../support/server.js';
import { tokenSlot } from '../../tls/support.js';

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

it('fails the jobs still on its threads when closed (the hung one and those queued behind it), leaving none pending', async () => {
  const { module, slot } = tokenSlot({ modulePath: env('HSMKMS_TEST_INTERPOSER'), token: { label: env('HSMKMS_TEST_TOKEN') } } as HsmConfig);
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  const threads = new CryptokiThreads(env('HSMKMS_TEST_INTERPOSER'), 2);
  try {
    await threads.prestart();
    control.set(['hang=C_GenerateRandom count=1']);
    const order = { session: session.toString('hex'), generation: 1, fenced: false };
    const random = () => threads.run([['C_GenerateRandom', session, Buffer.alloc(8)]], false, 0, order).result;
    const hung = random();
    await new Promise((r) => setTimeout(r, 300));
    const behind = random();
    await threads.close();
    const outcome = await Promise.race([Promise.allSettled([hung, behind]), new Promise((r) => setTimeout(r, 5_000).unref()).then(() => 'pending')]);
    expect(outcome).toEqual([
      { status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/closed/) }) },
      { status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/closed/) }) },
    ]);
  } finally {
    control.set([]);
    await new Promise((r) => setTimeout(r, 100));
    module.C_CloseSession(session);
  }
}, 30_000);
