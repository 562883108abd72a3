/** Opens backends on the run's token, as the test project configures it (test/support/hsm.ts). */
import type { Logger } from '../../../src/core/ports.js';
import { openPkcs11Backend, type Pkcs11Backend, type Pkcs11BackendConfig } from '../../../src/backend/pkcs11/index.js';
import { testHsmConfig } from '../../support/hsm.js';
import pkcs11js from 'pkcs11js';
import { sessionObjects } from '../../support/session-objects.js';

export { env } from '../../support/hsm.js';

export function tokenConfig(extra: Partial<Pkcs11BackendConfig> = {}): Pkcs11BackendConfig {
  return { ...testHsmConfig(), ...extra };
}

/**
 * Closes every session of this process on the token (the run's, or the one labelled `label`)
 * behind the backend's back (and so logs it out), as an HSM failover does. C_CloseAllSessions is
 * what any application may call; the backend has no hook for it.
 */
export function closeAllSessions(backend: Pkcs11Backend, label = process.env.HSMKMS_TEST_TOKEN): void {
  const m = backend.module;
  const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === label);
  if (slot === undefined) throw new Error(`no token labelled ${label}`);
  m.C_CloseAllSessions(slot);
}

export function openTestBackend(extra: Partial<Pkcs11BackendConfig> = {}, logger?: Logger): Promise<Pkcs11Backend> {
  return openPkcs11Backend(tokenConfig(extra), logger);
}

/** A logger that keeps what it was told, to assert on recoveries (and on what is never logged). */
export class RecordingLogger implements Logger {
  readonly records: Array<{ level: string; obj: object; msg?: string | undefined }> = [];
  debug(obj: object, msg?: string) {
    this.records.push({ level: 'debug', obj, msg });
  }
  info(obj: object, msg?: string) {
    this.records.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string) {
    this.records.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string) {
    this.records.push({ level: 'error', obj, msg });
  }
  child(): Logger {
    return this;
  }
  count(level: string): number {
    return this.records.filter((r) => r.level === level).length;
  }
}

/**
 * This process's generic-secret session objects on every initialised token of `backend`'s module:
 * a derived ECDH secret left behind would be one.
 */
export async function genericSecretSessionObjects(backend: Pkcs11Backend): Promise<number> {
  const P = pkcs11js;
  const m = backend.module;
  let found = 0;
  for (const slot of m.C_GetSlotList(true).filter((slot) => (m.C_GetTokenInfo(slot).flags & P.CKF_TOKEN_INITIALIZED) !== 0)) {
    const s = m.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
    try {
      found += (
        await sessionObjects(m, s, [
          { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
          { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
        ])
      ).length;
    } finally {
      m.C_CloseSession(s);
    }
  }
  return found;
}
