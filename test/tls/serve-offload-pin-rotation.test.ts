/**
 * `hsmkms serve --tls-key-uri … --pin-file FILE`: the TLS offload's own login — a handshake that
 * finds the login lost before the KMS backend renews it — uses a password rotated in the file,
 * as the backend does (src/cli/serve-pins.ts, src/tls/hsm-token.ts followPin). Before, the offload
 * kept the PIN read at start: that handshake sent the old password, which the HSM refused
 * (counting towards locking the Crypto User out), and failed.
 *
 * The password "changes" under the server: the PKCS#11 interposer imitates CloudHSM (cloudhsm=1),
 * which refuses a PIN that is not `user:password`, and removes the token and brings it back with
 * every session closed, the login with them. The built binary runs as a user would.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serve } from '../support/cli.js';
import { INTERPOSED_ENV, interposedTokenArgs } from '../support/interposer.js';
import { interposedTlsFixture, run } from './support.js';

const fixture = interposedTlsFixture('offload-pin');
const { control, caFile, log } = fixture;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hsmkms-offload-pin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a handshake that logs in after the HSM lost the login uses the PIN now in the file', async () => {
  const pinFile = join(dir, 'user.pin');
  copyFileSync(process.env.HSMKMS_TEST_PIN_FILE!, pinFile);
  chmodSync(pinFile, 0o600);
  const plain = readFileSync(pinFile, 'utf8').trim();
  const certFile = join(dir, 'cert.pem');
  writeFileSync(certFile, fixture.ec.cert);
  const served = await serve(
    ['--data-dir', join(dir, 'data'), '--port', '0', ...interposedTokenArgs(pinFile), '--tls-key-uri', fixture.ec.keyUri, '--tls-cert', certFile, '--log-level', 'warn'],
    INTERPOSED_ENV,
  );
  const port = new URL(served.endpoint).port;
  // Only handshakes reach the HSM here (no API call, no /health): the offload logs in itself.
  const handshake = () =>
    run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--cacert', caFile, `https://localhost:${port}/`]).then(
      (r) => r.stdout,
      () => 'handshake failed',
    );
  const logins = () => fixture.logLines().filter((l) => l.startsWith('C_Login ')).length;
  try {
    expect(await handshake()).not.toBe('handshake failed');
    // The Crypto User's password changes and the operator writes it to the file (CloudHSM's
    // `user:password` is now the only form the token accepts); some time later the HSM loses the login.
    control.set([`object_log=${log}`, 'cloudhsm=1']);
    writeFileSync(`${pinFile}.new`, `user:${plain}`, { mode: 0o600 });
    renameSync(`${pinFile}.new`, pinFile);
    await new Promise((r) => setTimeout(r, 7_000));
    control.set([`object_log=${log}`, 'cloudhsm=1', 'token_removed=1']);
    expect(await handshake()).toBe('handshake failed');
    control.set([`object_log=${log}`, 'cloudhsm=1']);
    const before = logins();
    expect(await handshake()).not.toBe('handshake failed');
    // One login, with the new password: none refused.
    expect(logins() - before).toBe(1);
    expect(served.stdout() + served.stderr()).not.toContain(plain);
  } finally {
    control.set([`object_log=${log}`]);
    expect(await served.stop()).toBe(0);
  }
}, 120_000);
