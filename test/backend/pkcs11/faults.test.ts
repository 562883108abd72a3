/**
 * The service against a failing HSM, through the AWS SDK: device errors mid-traffic, a hung call,
 * a removed token. The faults come from the PKCS#11 interposer (cloudhsm project only).
 */
import { generateKeyPairSync } from 'node:crypto';
import { CreateKeyCommand, DecryptCommand, DeriveSharedSecretCommand, EncryptCommand, KMSClient, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interposerControl } from '../../support/interposer.js';
import { genericSecretSessionObjects } from './helpers.js';
import { startServer, type RunningServer } from '../../support/server.js';

const control = interposerControl();
const CALL_TIMEOUT_MS = 1500;
let server: RunningServer;
let kms: KMSClient;
let keyId: string;

beforeAll(async () => {
  server = await startServer({ hsm: { callTimeoutMs: CALL_TIMEOUT_MS, poolSize: 4 } });
  // No SDK retries: each failure the service lets through must be visible here.
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
});
afterAll(async () => {
  control.set([]);
  kms?.destroy();
  await server?.close();
  control.dispose();
});

const health = async () => (await fetch(`${server.endpoint}/health`)).status;
const roundTrip = async (text: string) => {
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text) }));
  const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob }));
  return Buffer.from(Plaintext!).toString();
};

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a device error mid-traffic', () => {
  it('is recovered from without a restart, failing at most the calls in flight', async () => {
    const concurrency = 6;
    const drains = server.app.backend.stats().poolDrains;
    let done = 0;
    const failures: unknown[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let i = 0; i < 15; i++) {
          try {
            expect(await roundTrip(`w${w}-${i}`)).toBe(`w${w}-${i}`);
          } catch (e) {
            failures.push(e);
          }
          // A device reset: every session closed, and the next calls fail with CKR_DEVICE_ERROR.
          if (++done === 20) control.set(['fault=* CKR_DEVICE_ERROR count=3 close_sessions=1']);
        }
      }),
    );
    expect(failures.length).toBeLessThanOrEqual(concurrency);
    // It really happened and was recovered from: the pool was drained and the owner reopened.
    expect(server.app.backend.stats().poolDrains).toBeGreaterThan(drains);
    expect(server.logs()).toContain('CKR_DEVICE_ERROR');
    expect(await health()).toBe(200);
    expect(await roundTrip('after')).toBe('after');
  });
});

describe('an error from a session that still answers', () => {
  it('is retried on another session, without draining the pool', async () => {
    for (const code of ['CKR_DEVICE_ERROR', 'CKR_OPERATION_ACTIVE', 'CKR_GENERAL_ERROR']) {
      const drains = server.app.backend.stats().poolDrains;
      control.set([`fault=C_Encrypt ${code} count=2`]);
      expect(await roundTrip(code)).toBe(code);
      expect(server.app.backend.stats().poolDrains, code).toBe(drains);
    }
    control.set([]);
  });
});

describe('a hung HSM call', () => {
  it('fails with DependencyTimeoutException and does not wedge the pool', async () => {
    const signing = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const sign = () => kms.send(new SignCommand({ KeyId: signing, Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' }));
    await sign(); // the key's working copy is in the token before the hang starts
    control.set(['hang=C_Sign count=1']); // the next C_Sign blocks until the control file changes
    const hung = sign().then(
      () => undefined,
      (e: Error) => e,
    );
    // While it hangs, the other sessions keep serving.
    const meanwhile = await Promise.all(Array.from({ length: 8 }, (_, i) => roundTrip(`during-${i}`)));
    expect(meanwhile).toEqual(Array.from({ length: 8 }, (_, i) => `during-${i}`));
    const error = await hung;
    expect(error?.name).toBe('DependencyTimeoutException');
    expect(error?.message).not.toMatch(/CKR|C_Sign/);
    expect(server.logs()).toContain('ERR_HSM_TIMEOUT');
    // The hung call still blocks a session and a thread, yet signing goes on around it.
    expect(server.app.backend.stats()).toMatchObject({ sessionsAbandoned: 1, callThreadsStuck: 1 });
    for (let i = 0; i < 6; i++) expect((await sign()).Signature).toBeDefined();
    control.set([]); // released: the call returns, its session is closed, its thread comes back
    await until(() => server.app.backend.stats().sessionsAbandoned === 0 && server.app.backend.stats().callThreadsStuck === 0, 'the hung call to end');
    expect((await sign()).Signature).toBeDefined();
  });
});

describe('a removed token', () => {
  it('makes /health answer 503, and the service recovers when the token returns', async () => {
    const before = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kept') }))).CiphertextBlob;
    expect(await health()).toBe(200);
    control.set(['token_removed=1']);
    expect(await health()).toBe(503);
    await expect(roundTrip('gone')).rejects.toMatchObject({ name: 'KMSInternalException' });
    control.set(['token_removed=0']);
    await until(async () => (await health()) === 200, '/health to recover');
    expect(await roundTrip('back')).toBe('back');
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob: before }));
    expect(Buffer.from(Plaintext!).toString()).toBe('kept');
  });
});

describe('the first secret sealed after the token returns', () => {
  // A pooled session opened before the login is back sees none of the token's private keys: the
  // seal keys looked up there came back empty, and sealing read a key out of the empty set (a
  // TypeError, not retried).
  it('logs in again and seals', async () => {
    control.set(['token_removed=1']);
    await expect(server.app.backend.sealSecret(Buffer.from('gone'))).rejects.toThrow();
    control.set(['token_removed=0']);
    const sealed = await server.app.backend.sealSecret(Buffer.from('first'));
    expect((await server.app.backend.unsealSecret(sealed)).toString()).toBe('first');
    expect(await health()).toBe(200);
  });
});

describe('a derived secret the token would not destroy', () => {
  it('is not left readable in a pooled session: that session is closed and the call retried on another', async () => {
    const agreement = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'KEY_AGREEMENT' }))).KeyMetadata!.KeyId!;
    const PublicKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    const derive = () => kms.send(new DeriveSharedSecretCommand({ KeyId: agreement, KeyAgreementAlgorithm: 'ECDH', PublicKey }));
    const expected = Buffer.from((await derive()).SharedSecret!);
    expect(await genericSecretSessionObjects(server.app.backend)).toBe(0);
    control.set(['fault=C_DestroyObject CKR_FUNCTION_FAILED count=1']);
    expect(Buffer.from((await derive()).SharedSecret!)).toStrictEqual(expected);
    control.set([]);
    expect(await genericSecretSessionObjects(server.app.backend)).toBe(0);
  });
});

describe("a failure on a Verify's cached public key", () => {
  it('does not poison the cache: the call is retried, and the key verifies (and refuses) as before', async () => {
    const signing = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
    const Message = Buffer.from('m');
    const { Signature } = await kms.send(new SignCommand({ KeyId: signing, Message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    const verify = (message = Message) => kms.send(new VerifyCommand({ KeyId: signing, Message: message, Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect((await verify()).SignatureValid).toBe(true); // the public key copy is now cached
    const backend = server.app.backend;
    const made = () => backend.stats().tokenObjectsMade;
    let start = made();
    expect((await verify()).SignatureValid).toBe(true);
    expect(made()).toBe(start);
    // A stale handle: cached handles are forgotten, and the retry makes the public key again.
    control.set(['fault=C_VerifyInit 0x60 count=1']); // CKR_KEY_HANDLE_INVALID
    start = made();
    expect((await verify()).SignatureValid).toBe(true);
    control.set([]);
    expect(made() - start).toBe(1);
    // A device error on the verification itself: the call is retried and verifies. If the failed
    // session was the one owning the cached handles, its recovery forgets them and the retry makes
    // the public key once more; otherwise the retry reuses the cached handle.
    control.set(['fault=C_Verify CKR_DEVICE_ERROR count=1']);
    start = made();
    expect((await verify()).SignatureValid).toBe(true);
    control.set([]);
    expect(made() - start).toBeLessThanOrEqual(1);
    // Either way the cache is sound again: what follows makes no object.
    start = made();
    expect((await verify()).SignatureValid).toBe(true);
    expect(made()).toBe(start);
    await expect(verify(Buffer.from('other'))).rejects.toMatchObject({ name: 'KMSInvalidSignatureException' });
    expect((await verify()).SignatureValid).toBe(true);
    expect(made()).toBe(start);
  });
});
