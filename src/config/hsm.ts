/**
 * How hsmkms reaches an HSM: the PKCS#11 module, which token, where the PIN comes from and
 * which vendor profile applies. Shared by the KMS backend and the TLS offload, so one
 * configuration serves both.
 */
import { readFileSync, statSync } from 'node:fs';

/**
 * Where a PIN comes from. Never from argv: command lines are visible to every user of the
 * machine through `ps` and /proc. `value`: read already, held in memory — how `serve`'s primary,
 * having read a one-shot source (a FIFO, `<(cmd)`, a variable it then unsets) once, hands the PIN
 * to every worker it starts, over their IPC channel; with `reread`, what a re-login asks for the
 * PIN now (see src/cli/serve-pins.ts).
 */
export type PinSource = { env: string } | { file: string } | { value: string; reread?: () => Promise<string> };

/** Vendor quirks are data: see the backend's profiles. */
export type HsmProfileName = 'softhsm2' | 'cloudhsm' | 'generic';

export interface HsmConfig {
  /** Path of the PKCS#11 shared library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  modulePath: string;
  /** Which token: by label, by serial number, or both (RFC 7512 `token=` / `serial=`). */
  token: { label?: string | undefined; serial?: string | undefined };
  /** The Crypto User's PIN (CloudHSM: `user:password`). */
  pin: PinSource;
  profile: HsmProfileName;
  /**
   * How long one HSM call may take before it is given up (`--hsm-call-timeout`; default
   * {@link DEFAULT_HSM_CALL_TIMEOUT_MS}): a KMS call made off the event loop, and the signature of
   * a TLS handshake (the addon's sign thread, native/sign-thread.h).
   */
  callTimeoutMs?: number;
}

/** The default of {@link HsmConfig.callTimeoutMs}. */
export const DEFAULT_HSM_CALL_TIMEOUT_MS = 30_000;

/** An error in configuration, with a message a person can act on (never the PIN itself). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads a PIN. A file must not be readable by group or others; a trailing newline is dropped
 * so `echo PIN > file` works.
 */
export function readPin(source: PinSource): string {
  if ('value' in source) return source.value;
  if ('env' in source) {
    const value = process.env[source.env];
    if (value === undefined || value === '')
      throw new ConfigError(`The PIN environment variable ${source.env} is not set.`);
    return value;
  }
  let mode: number;
  try {
    mode = statSync(source.file).mode;
  } catch {
    throw new ConfigError(`The PIN file ${source.file} does not exist or cannot be read.`);
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError(`The PIN file ${source.file} is readable by other users; run: chmod 600 ${source.file}`);
  const value = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`The PIN file ${source.file} is empty.`);
  return value;
}

/**
 * The PIN for a login after the first (a re-login, a keyring's connection): a held PIN asks its
 * holder again where it can (`reread`), any other source is read again.
 */
export async function readPinForLogin(source: PinSource): Promise<string> {
  return 'reread' in source && source.reread ? source.reread() : readPin(source);
}
