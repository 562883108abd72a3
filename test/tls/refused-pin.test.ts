/**
 * The TLS addon logs in again whenever a handshake finds its session or login gone, and a
 * handshake is an unauthenticated client. A PIN the token refused (CKR_PIN_INCORRECT) must not be
 * sent again at every handshake: each refusal counts towards locking the user out (CloudHSM locks
 * a Crypto User after a few), so anyone able to open connections could lock the server's user
 * out. The same rule as the KMS backend's (session-runtime.ts `login`): a different PIN is tried.
 *
 * The password "changes" under the addon: the interposer imitates CloudHSM (cloudhsm=1), which
 * refuses a PIN that is not `user:password`, and removes the token and brings it back with every
 * session closed, the login with them. Its object log has a `C_Login` line for every login that
 * reaches the module.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPin, type HsmConfig } from '../../src/config/hsm.js';
import { createHsmHttpsServer, generateTlsKey, openTlsToken } from '../../src/tls/index.js';
import { interposerControl } from '../support/interposer.js';
import { createTestCa, interposedTestHsm, listen, run, uniqueLabel } from './support.js';

const control = interposerControl();
const hsm: HsmConfig = interposedTestHsm('softhsm2');
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-tls-refused-pin-'));
const caFile = join(dir, 'ca.pem');
const log = join(dir, 'objects.log');
let ec: { keyUri: string; cert: string };

beforeAll(async () => {
  const ca = await createTestCa();
  writeFileSync(caFile, ca.pem);
  const key = generateTlsKey(hsm, uniqueLabel('refused-pin-ec'), 'ECC_NIST_P256');
  ec = { keyUri: key.keyUri, cert: await ca.issue(key.spki, ['localhost']) };
  control.set([`object_log=${log}`]);
});
afterAll(() => {
  control.set([]);
  control.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const logins = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('C_Login ')).length : 0);

describe('a PIN the token refused', () => {
  it('is not sent again, however many handshakes find the login lost; a different PIN is tried', async () => {
    const server = createHsmHttpsServer({ hsm, certificates: [ec], sessionResumption: false }, (_req, res) => res.end('ok'));
    const handshakeErrors: string[] = [];
    server.on('tlsClientError', (error) => handshakeErrors.push(`${error.message} ${(error as { reason?: string }).reason ?? ''}`));
    try {
      const port = await listen(server);
      const curl = () =>
        run('curl', ['-sS', '--max-time', '20', '--cacert', caFile, `https://localhost:${port}/`]).then(
          (r) => r.stdout,
          () => 'handshake failed',
        );
      expect(await curl()).toBe('ok');

      control.set([`object_log=${log}`, 'cloudhsm=1', 'token_removed=1']);
      expect(await curl()).toBe('handshake failed'); // no token to reconnect to
      control.set([`object_log=${log}`, 'cloudhsm=1']); // back, with every session closed
      const before = logins();
      for (let i = 0; i < 5; i++) expect(await curl()).toBe('handshake failed');
      expect(logins() - before).toBe(1); // the first handshake's login, refused; none since
      expect(handshakeErrors.join('\n')).toContain('not sent again');

      // A different PIN (here CloudHSM's user:password form of the right one) is tried, and works.
      openTlsToken({ ...hsm, pin: { value: `user:${readPin(hsm.pin)}` } });
      expect(logins() - before).toBe(2);
      expect(await curl()).toBe('ok');
    } finally {
      control.set([`object_log=${log}`]);
      openTlsToken(hsm); // the plain PIN again, for any later login in this process
      await new Promise((r) => server.close(r));
    }
  });
});
