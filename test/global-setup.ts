/**
 * One fresh SoftHSM2 token per test run. Every test file (each in its own worker process)
 * finds it through the environment set here: SOFTHSM2_CONF, HSMKMS_TEST_MODULE,
 * HSMKMS_TEST_TOKEN, HSMKMS_TEST_PIN_FILE and HSMKMS_TEST_SO_PIN_FILE.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'hsmkms-test-'));
  const tokens = join(root, 'tokens');
  mkdirSync(tokens);
  const conf = join(root, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  const pinFile = join(root, 'user.pin');
  const soPinFile = join(root, 'so.pin');
  writeFileSync(pinFile, pin, { mode: 0o600 });
  writeFileSync(soPinFile, soPin, { mode: 0o600 });
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  // softhsm2-util takes PINs as arguments; acceptable for a throwaway test token only.
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'hsmkms-test', '--pin', pin, '--so-pin', soPin], {
    env,
    stdio: 'ignore',
  });
  Object.assign(process.env, {
    SOFTHSM2_CONF: conf,
    HSMKMS_TEST_ROOT: root,
    HSMKMS_TEST_MODULE: SOFTHSM_MODULE,
    HSMKMS_TEST_TOKEN: 'hsmkms-test',
    HSMKMS_TEST_PIN_FILE: pinFile,
    HSMKMS_TEST_SO_PIN_FILE: soPinFile,
  });
  return () => rmSync(root, { recursive: true, force: true });
}
