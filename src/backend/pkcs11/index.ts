/**
 * The PKCS#11 key backend: the only module that talks to an HSM. See pkcs11-backend.ts for the
 * key-material invariant.
 */
import type { HsmConfig, PinSource } from '../../config/hsm.js';
import type { Logger } from '../../core/ports.js';
import { Pkcs11Backend } from './pkcs11-backend.js';

export { Pkcs11Backend } from './pkcs11-backend.js';
export { parsePkcs11Uri, hsmConfigFromUri, type Pkcs11Uri } from './uri.js';
export { PROFILES, detectProfile, type HsmProfile } from './profiles.js';

/** How to reach the token, plus pool and cache sizes. */
export interface Pkcs11BackendConfig extends HsmConfig {
  /** Security officer PIN: only for the embedded SoftHSM2 token / token initialisation. */
  soPin?: PinSource;
  /** Sessions in the pool (default 8). */
  poolSize?: number;
  /** Unwrapped key handles kept in the token (default 1024). */
  cacheSize?: number;
  /**
   * Called when the backend's object handles end (a lost login, a replaced owner session), before
   * it logs in again or makes an object: the login is the process's, so the TLS engine's handles
   * into the same module end with it (the composition root wires this).
   */
  onHandleEpochEnd?: (() => void) | undefined;
}

/**
 * Loads the module, finds the token, logs in, and finds (or on first use creates) the domain
 * and seal keys. Throws ConfigError for anything a person must fix (module path, token, PIN).
 */
export async function openPkcs11Backend(config: Pkcs11BackendConfig, logger?: Logger): Promise<Pkcs11Backend> {
  return Pkcs11Backend.open(config, logger);
}
