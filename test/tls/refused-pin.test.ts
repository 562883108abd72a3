/**
 * The TLS addon logs in again whenever a handshake finds its session or login gone, and a
 * handshake is an unauthenticated client. A PIN the token refused (CKR_PIN_INCORRECT) must not be
 * sent again at every handshake: each refusal counts towards locking the user out (CloudHSM locks
 * a Crypto User after a few), so anyone able to open connections could lock the server's user
 * out. The same rule as the KMS backend's (session-runtime.ts `login`): a different PIN is tried,
 * and a session opened while another part of the process (the backend, which reads a rotated PIN
 * file again) has logged the application in needs no login of its own.
 *
 * The password "changes" under the addon: the interposer imitates CloudHSM (cloudhsm=1), which
 * refuses a PIN that is not `user:password`, and removes the token and brings it back with every
 * session closed, the login with them. Its object log has a `C_Login` line for every login that
 * reaches the module.
 */
import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { readPin } from '../../src/config/hsm.js';
import { createHsmHttpsServer, openTlsToken } from '../../src/tls/index.js';
import { startServer } from '../support/server.js';
import { interposedTlsFixture, listen, run, tokenSlot } from './support.js';

const fixture = interposedTlsFixture('refused-pin');
const { control, hsm, caFile, log } = fixture;

const logins = () => fixture.logLines().filter((l) => l.startsWith('C_Login ')).length;

/** The application's login renewed by another part of this process, as the KMS backend does; returns its session, which holds the login. */
function logInElsewhere(pin: string): () => void {
  const { module, slot } = tokenSlot(hsm);
  const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  module.C_Login(session, pkcs11js.CKU_USER, pin);
  return () => module.C_CloseSession(session);
}

/** The body curl got over HTTPS, or 'handshake failed'. */
const curlAt = (port: number | string) =>
  run('curl', ['-sS', '--max-time', '20', '--cacert', caFile, `https://localhost:${port}/`]).then(
    (r) => r.stdout,
    () => 'handshake failed',
  );

/**
 * The token is removed and brought back with every session closed, the login with them, and
 * with a "new password": the interposer (cloudhsm=1) now refuses the plain PIN.
 */
async function loseLoginAndPassword(curl: () => Promise<string>): Promise<void> {
  control.set([`object_log=${log}`, 'cloudhsm=1', 'token_removed=1']);
  expect(await curl()).toBe('handshake failed'); // no token to reconnect to
  control.set([`object_log=${log}`, 'cloudhsm=1']);
}

describe('a PIN the token refused', () => {
  it('is not sent again, however many handshakes find the login lost; a login by the backend or a different PIN signs again', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [fixture.ec], sessionResumption: false }, (_req, res) => res.end('ok'));
    const handshakeErrors: string[] = [];
    server.on('tlsClientError', (error) => handshakeErrors.push(error.message));
    const rightPin = `user:${readPin(hsm.pin)}`; // CloudHSM's form of the right PIN
    let closeElsewhere = () => {};
    try {
      const port = await listen(server);
      const curl = () => curlAt(port);
      const loseLogin = () => loseLoginAndPassword(curl);
      expect(await curl()).toBe('ok');

      await loseLogin();
      const before = logins();
      for (let i = 0; i < 5; i++) expect(await curl()).toBe('handshake failed');
      expect(logins() - before).toBe(1); // the first handshake's login, refused; none since
      expect(handshakeErrors.at(-1)).toContain('not sent again');

      // The backend logs the application in with the PIN it read again: the addon's new session
      // shares that login and sends nothing.
      closeElsewhere = logInElsewhere(rightPin);
      expect(logins() - before).toBe(2);
      expect(await curl()).toBe('ok');
      expect(logins() - before).toBe(2);
      closeElsewhere();
      closeElsewhere = () => {};

      // A different PIN given to the addon is tried, and works.
      await loseLogin();
      openTlsToken({ ...hsm, pin: { value: rightPin } });
      expect(logins() - before).toBe(3);
      expect(await curl()).toBe('ok');
    } finally {
      closeElsewhere();
      control.set([`object_log=${log}`]);
      openTlsToken(hsm); // the plain PIN again, for any later login in this process
      await new Promise((r) => server.close(r));
    }
  });

  it('`hsmkms serve` logs a handshake the HSM did not sign, with the code and never the PIN', async () => {
    const serve = await startServer({ hsm: { modulePath: hsm.modulePath, profile: hsm.profile }, tls: fixture.ec });
    try {
      const curl = () => curlAt(new URL(serve.endpoint).port);
      expect(await curl()).not.toBe('handshake failed');
      expect(serve.logs()).not.toContain('TLS handshake failed');
      await loseLoginAndPassword(curl);
      expect(await curl()).toBe('handshake failed');
      const lines = serve.logs().split('\n').filter((l) => l.includes('TLS handshake failed'));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.at(-1)).toContain('CKR_PIN_INCORRECT');
      expect(serve.logs()).not.toContain(readPin(hsm.pin));
      // Anyone can open connections: the refusal is logged when first met, then at most once a
      // minute (with the count held back), not once per handshake.
      for (let i = 0; i < 6; i++) expect(await curl()).toBe('handshake failed');
      // Lines reach the log in batches: wait for the last handshake's, were it logged.
      await new Promise((r) => setTimeout(r, 1500));
      const notSentAgain = serve.logs().split('\n').filter((l) => l.includes('TLS handshake failed') && l.includes('not sent again'));
      expect(notSentAgain).toHaveLength(1);
    } finally {
      control.set([`object_log=${log}`]);
      await serve.close();
    }
  });
});
