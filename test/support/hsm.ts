/**
 * The HSM configuration tests open, for the project they run in (vitest.config.ts):
 * - `softhsm2` (default): the run's SoftHSM2 token, directly;
 * - `cloudhsm` (HSMKMS_TEST_PROFILE=cloudhsm): the same token behind the PKCS#11 interposer
 *   (test/pkcs11-interposer), which adds network latency and AWS CloudHSM's quirks (HSM-chosen
 *   GCM IVs, unique CKA_IDs, the user:password PIN) — the code paths a real CloudHSM takes.
 */
import type { HsmConfig, HsmProfileName } from '../../src/config/hsm.js';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through vitest (test/global-setup.ts)`);
  return v;
}

/** The profile this test project runs under. */
export function testProfile(): HsmProfileName {
  return process.env.HSMKMS_TEST_PROFILE === 'cloudhsm' ? 'cloudhsm' : 'softhsm2';
}

export function testHsmConfig(): HsmConfig {
  const token = { label: env('HSMKMS_TEST_TOKEN') };
  if (testProfile() === 'cloudhsm')
    return { modulePath: env('HSMKMS_TEST_INTERPOSER'), token, pin: { file: env('HSMKMS_TEST_CLOUDHSM_PIN_FILE') }, profile: 'cloudhsm' };
  return { modulePath: env('HSMKMS_TEST_MODULE'), token, pin: { file: env('HSMKMS_TEST_PIN_FILE') }, profile: 'softhsm2' };
}
