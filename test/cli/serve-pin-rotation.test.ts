/**
 * `hsmkms serve --pin-file FILE` (a regular file): a login the server renews after start-up (the
 * HSM lost it) reads the file again, through the primary, so a password rotated in the file is
 * used without a restart. Shown with the run's SoftHSM2 token behind the PKCS#11 interposer, which
 * removes the token and brings it back with every session closed (the login with them): a wrong
 * PIN written to the file meanwhile is refused at that re-login (CKR_PIN_INCORRECT) and /health
 * stays 503, and is not sent to the token again while callers keep asking; the right one written
 * back, the server recovers. Before, the PIN read at start was
 * held, and the re-login never looked at the file again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, until } from '../support/cli.js';
import { INTERPOSED_ENV, interposedTokenArgs, interposerControl, type InterposerControl } from '../support/interposer.js';

let dataDir: string;
let control: InterposerControl;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-pin-rotation-'));
  control = interposerControl();
});
afterAll(() => {
  control.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

it('a re-login reads the PIN file again (through the primary)', async () => {
  const pinFile = join(dataDir, 'user.pin');
  copyFileSync(process.env.HSMKMS_TEST_PIN_FILE!, pinFile);
  chmodSync(pinFile, 0o600);
  /** Replaces the PIN file as an operator rotating it should: a new file renamed over the old one. */
  const rotate = (content: string | Buffer) => {
    writeFileSync(`${pinFile}.new`, content, { mode: 0o600 });
    renameSync(`${pinFile}.new`, pinFile);
  };
  const right = readFileSync(pinFile);
  const loginLog = join(dataDir, 'pkcs11-calls.log');
  // The softhsm2 profile recycles: one worker under a primary, which holds the PIN.
  // Info: the login restored and the health check passing again are logged at info.
  const served = await serve(['--data-dir', dataDir, '--port', '0', ...interposedTokenArgs(pinFile), '--log-level', 'info'], INTERPOSED_ENV);
  const lines = (message: string) => served.stdout().split('\n').filter((l) => l.includes(`"msg":"${message}"`));
  const health = async () => (await fetch(`${served.endpoint}/health`).catch(() => undefined))?.status;
  try {
    expect(await health()).toBe(200);
    rotate('not-the-pin');
    control.set(['token_removed=1', `object_log=${loginLog}`]);
    await until(async () => (await health()) === 503, 30_000, '/health to say the token is gone');
    control.set(['token_removed=0', `object_log=${loginLog}`]);
    // A request (here /health) finds the login gone and renews it.
    await until(async () => (await health()) === 503 && served.stdout().includes('"detail":"CKR_PIN_INCORRECT"'), 60_000, `the re-login to be refused:\n${served.stdout().slice(-3000)}`);
    // The refused PIN is not sent again, however often callers ask: every refusal counts towards
    // locking the user out (CloudHSM locks a Crypto User after a few).
    const logins = () => readFileSync(loginLog, 'utf8').split('\n').filter((l) => l.startsWith('C_Login ')).length;
    const refused = logins();
    expect(refused).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) expect(await health()).toBe(503);
    expect(logins()).toBe(refused);
    rotate(right);
    await until(async () => (await health()) === 200, 60_000, `/health to recover with the PIN written back:\n${served.stdout().slice(-3000)}`);
    // The change of state is logged at once, with what was held back.
    // (Lines reach stdout in batches.)
    await until(() => lines('health check passed again').length > 0, 10_000, 'the recovery to be logged');
    // The refusal itself is logged once (the PIN is sent once), and the login restored.
    expect(lines('PKCS#11 login refused: the token refused the PIN in the PIN source; it is not sent again until the source holds another')).toHaveLength(1);
    expect(lines('PKCS#11 login restored: the token accepted the PIN')).toHaveLength(1);
    // Nor was the log filled while callers polled: the failure was logged when it began, and
    // would be again at most once a minute, with how many were held back.
    expect(lines('health check failed').filter((l) => l.includes('CKR_PIN_INCORRECT'))).toHaveLength(1);
    const passed = lines('health check passed again');
    expect(passed).toHaveLength(1);
    expect(JSON.parse(passed[0]!).suppressed).toBeGreaterThanOrEqual(5);
    expect(served.stdout() + served.stderr()).not.toContain(right.toString().trim());
  } finally {
    control.set([]);
    expect(await served.stop()).toBe(0);
  }
}, 180_000);
