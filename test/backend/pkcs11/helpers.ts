/** Opens backends on the run's SoftHSM2 token (see test/global-setup.ts). */
import { openPkcs11Backend, type Pkcs11Backend, type Pkcs11BackendConfig } from '../../../src/backend/pkcs11/index.js';

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through vitest`);
  return v;
}

export function tokenConfig(extra: Partial<Pkcs11BackendConfig> = {}): Pkcs11BackendConfig {
  return {
    modulePath: env('HSMKMS_TEST_MODULE'),
    token: { label: env('HSMKMS_TEST_TOKEN') },
    pin: { file: env('HSMKMS_TEST_PIN_FILE') },
    profile: 'softhsm2',
    ...extra,
  };
}

export function openTestBackend(extra: Partial<Pkcs11BackendConfig> = {}): Promise<Pkcs11Backend> {
  return openPkcs11Backend(tokenConfig(extra));
}
