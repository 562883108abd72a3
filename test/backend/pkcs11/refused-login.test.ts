/**
 * KMS requests while the HSM refuses the service's login, through the AWS SDK. The token logs the
 * server out (the interposer removes it and brings it back with every session closed, the login
 * with them) and the re-login is refused: the password changed under the running server (the PIN
 * file now holds another one; the interposer, imitating CloudHSM, refuses what is not
 * `user:password`), or the user is locked (CKR_PIN_LOCKED from the interposer).
 *
 * A request then says that the HSM refused the login and what to do, not that "the domain key is
 * not in the token" (a session without the login sees none of the token's private keys); the log
 * says it once, not per request; and no request sends a refused login to the HSM again: each
 * refusal counts towards locking the user out. (cloudhsm project only: the interposer.)
 */
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, GenerateDataKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interposerControl } from '../../support/interposer.js';
import { startServer, type RunningServer } from '../../support/server.js';
import { env } from './helpers.js';

const control = interposerControl();
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-refused-login-'));
const pinFile = join(dir, 'user.pin');
const loginLog = join(dir, 'calls.log');
const right = readFileSync(env('HSMKMS_TEST_CLOUDHSM_PIN_FILE'), 'utf8').trim();
/** The password alone (CloudHSM's PIN is `user:password`). */
const password = right.slice(right.indexOf(':') + 1);
let server: RunningServer;
let kms: KMSClient;
let keyId: string;
/** An Ed25519 key: its material is a token object of its own, found by CKA_ID rather than unwrapped. */
let edKeyId: string;
let ciphertext: Uint8Array;

/** Replaces the PIN file as an operator rotating it should: a new file renamed over the old one. */
function rotate(content: string): void {
  writeFileSync(`${pinFile}.new`, content, { mode: 0o600 });
  renameSync(`${pinFile}.new`, pinFile);
}

beforeAll(async () => {
  copyFileSync(env('HSMKMS_TEST_CLOUDHSM_PIN_FILE'), pinFile);
  chmodSync(pinFile, 0o600);
  server = await startServer({ hsm: { pin: { file: pinFile }, poolSize: 4 } });
  kms = new KMSClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  keyId = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  ciphertext = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('kept') }))).CiphertextBlob!;
  edKeyId = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  await kms.send(new SignCommand({ KeyId: edKeyId, Message: Buffer.from('m'), MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' }));
});
afterAll(async () => {
  control.set([]);
  kms?.destroy();
  await server?.close();
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const health = async () => (await fetch(`${server.endpoint}/health`)).status;
const logins = () => {
  try {
    return readFileSync(loginLog, 'utf8').split('\n').filter((l) => l.startsWith('C_Login ')).length;
  } catch {
    return 0;
  }
};
const logLines = (message: string) => server.logs().split('\n').filter((l) => l.includes(`"msg":"${message}"`));

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The token logs every session of the server out; `then` holds the interposer's settings once it is back. */
async function logOut(then: string[]): Promise<void> {
  control.set([`object_log=${loginLog}`, 'token_removed=1']);
  await until(async () => (await health()) === 503, '/health to see the token gone');
  control.set([`object_log=${loginLog}`, ...then]);
}

/** What every kind of request answers now: the SDK's exception, by name and message. */
async function answers(): Promise<Array<{ name: string; message: string }>> {
  const calls = [
    () => kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })),
    () => kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })),
    () => kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' })),
    () => kms.send(new CreateKeyCommand({})),
    () => kms.send(new SignCommand({ KeyId: edKeyId, Message: Buffer.from('m'), MessageType: 'RAW', SigningAlgorithm: 'ED25519_SHA_512' })),
  ];
  const seen: Array<{ name: string; message: string }> = [];
  const record = (e: unknown) => {
    const { name, message } = e as Error;
    seen.push({ name, message });
  };
  // One after another, then a burst of them at once.
  for (let round = 0; round < 3; round++) for (const call of calls) await call().then(() => seen.push({ name: 'succeeded', message: '' }), record);
  await Promise.all(Array.from({ length: 15 }, (_, i) => calls[i % calls.length]!().then(() => seen.push({ name: 'succeeded', message: '' }), record)));
  return seen;
}

function expectRefusalAnswers(seen: Array<{ name: string; message: string }>): void {
  expect(seen).toHaveLength(30);
  for (const { name, message } of seen) {
    expect(name).toBe('KMSInternalException');
    expect(message).toMatch(/HSM refused/);
    expect(message).toMatch(/PIN/);
    expect(message).not.toMatch(/domain key|CKR_/);
    expect(message).not.toContain(password);
  }
}

describe('requests while the HSM refuses the login', () => {
  it('the PIN changed under the server: each request says the login was refused; the PIN is sent once', async () => {
    expect(await health()).toBe(200);
    rotate('hsmkms:not-the-pin');
    const before = logins();
    await logOut([]);
    expectRefusalAnswers(await answers());
    for (let i = 0; i < 3; i++) expect(await health()).toBe(503);
    // The refused PIN reached the token once, whatever the requests and health checks did.
    expect(logins() - before).toBe(1);
    // Said once when it happened, with the token's code; not once per request.
    const refused = logLines('PKCS#11 login refused: the token refused the PIN in the PIN source; it is not sent again until the source holds another');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('CKR_PIN_INCORRECT');
    expect(logLines('key backend call failed').length).toBeLessThanOrEqual(1);
    // The recovery's own lines: the first of each (message, code), then at most once a minute.
    expect(logLines('PKCS#11 recovery failed')).toHaveLength(1);
    expect(logLines('PKCS#11 call failed; recovering and retrying').length).toBeLessThanOrEqual(3);
    expect(server.logs()).not.toMatch(/domain key/i);
    expect(server.logs()).not.toContain('not-the-pin');
    expect(server.logs()).not.toContain(password);

    rotate(right);
    await until(async () => (await health()) === 200, '/health to recover with the PIN written back');
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
    expect(Buffer.from(Plaintext!).toString()).toBe('kept');
  });

  it('the user is locked: requests and health checks do not send the login again and again', async () => {
    // Whatever the test before left, the server is logged in again.
    control.set([]);
    rotate(right);
    await until(async () => (await health()) === 200, '/health to pass');
    const before = logins();
    await logOut(['fault=C_Login 0xa4 count=-1']); // CKR_PIN_LOCKED
    const seen = await answers();
    for (let i = 0; i < 3; i++) expect(await health()).toBe(503);
    // Before, each CreateKey that met the lost login sent it three times, and each health check once.
    expect(logins() - before).toBe(1);
    expectRefusalAnswers(seen);
    const refused = logLines('PKCS#11 login refused: the token refused the login; it is tried again at most once a minute, or at once when the PIN source holds another PIN');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('CKR_PIN_LOCKED');
    expect(logLines('key backend call failed').length).toBeLessThanOrEqual(1);
    expect(server.logs()).not.toContain(password);
  });
});
