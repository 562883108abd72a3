/**
 * One fresh SoftHSM2 token per test run. Every test file (each in its own worker process)
 * finds it through the environment set here: SOFTHSM2_CONF, HSMKMS_TEST_MODULE,
 * HSMKMS_TEST_TOKEN, HSMKMS_TEST_PIN_FILE and HSMKMS_TEST_SO_PIN_FILE; and for the `cloudhsm`
 * project, the PKCS#11 interposer in front of it (HSMKMS_TEST_INTERPOSER, built here) and the
 * same PIN in CloudHSM's user:password form (HSMKMS_TEST_CLOUDHSM_PIN_FILE). test/support/hsm.ts
 * turns these into the configuration a test opens.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildInterposer } from './pkcs11-interposer/build.mjs';
import { openPkcs11Backend } from '../src/backend/pkcs11/index.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export default async function setup(): Promise<() => void> {
  // Vitest runs the root's global set-up again for each project that extends it: the first
  // call makes the run's token, later ones find it made.
  const made = globalThis as { hsmkmsTestToken?: true };
  if (made.hsmkmsTestToken) return () => undefined;
  made.hsmkmsTestToken = true;
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
  const cloudhsmPinFile = join(root, 'crypto-user.pin');
  writeFileSync(cloudhsmPinFile, `hsmkms:${pin}`, { mode: 0o600 });
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
    HSMKMS_TEST_INTERPOSER: buildInterposer(),
    HSMKMS_TEST_CLOUDHSM_PIN_FILE: cloudhsmPinFile,
  });
  // The token's own keys (domain and seal) are made here, once, before test files start in
  // parallel. Processes that make them at the same moment on a fresh SoftHSM2 token can each
  // miss the other's: SoftHSM2's file store re-reads the token only when its generation counter
  // moved since it last looked, and a process's own write takes that counter past another's.
  // A test that needs the race makes a token of its own (token-race, seal-key-race).
  const backend = await openPkcs11Backend({ modulePath: SOFTHSM_MODULE, token: { label: 'hsmkms-test' }, pin: { file: pinFile }, profile: 'softhsm2' });
  await backend.close();
  return () => rmSync(root, { recursive: true, force: true });
}
