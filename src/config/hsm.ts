/**
 * How hsmkms reaches an HSM: the PKCS#11 module, which token, where the PIN comes from and
 * which vendor profile applies. Shared by the KMS backend and the TLS offload, so one
 * configuration serves both.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

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
 * The most a PIN file may hold. A PIN is a few dozen bytes (CloudHSM's `user:password` well under
 * 100); anything larger is the wrong file, and is refused before it is read into memory.
 */
export const MAX_PIN_FILE_BYTES = 4096;

/**
 * Reads a PIN at start-up. A file must not be readable by group or others; a trailing newline
 * (LF or CRLF) is dropped so `echo PIN > file` works. A FIFO or pipe (`<(cmd)`) is waited for: it
 * is read once, before anything is served. For a read after start-up, see {@link rereadPin}.
 */
export function readPin(source: PinSource): string {
  return 'file' in source ? readPinFile(source.file, true) : heldOrEnvPin(source);
}

/**
 * Reads a PIN again after start-up (a re-login, a worker starting): as {@link readPin}, but a file
 * must still be a regular file. Opened without waiting and checked on the open descriptor, so a
 * file replaced meanwhile by a FIFO, a directory or a symbolic link to either is refused at once
 * with a ConfigError rather than holding the process (and every request) in open(2) for ever.
 */
export function rereadPin(source: PinSource): string {
  return 'file' in source ? readPinFile(source.file, false) : heldOrEnvPin(source);
}

function heldOrEnvPin(source: { env: string } | { value: string }): string {
  if ('value' in source) return source.value;
  const value = process.env[source.env];
  if (value === undefined || value === '') throw new ConfigError(`The PIN environment variable ${source.env} is not set.`);
  return value;
}

/**
 * One read of a PIN file, bounded by {@link MAX_PIN_FILE_BYTES}; what it checks (kind, mode,
 * size) is the descriptor it reads, not the path, so a rename between the two cannot slip in.
 * `mayWait`: whether a FIFO may be opened and read to its end (start-up only).
 */
function readPinFile(file: string, mayWait: boolean): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOCTTY | (mayWait ? 0 : constants.O_NONBLOCK));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENXIO')
      throw new ConfigError(`The PIN file ${file} is no longer a regular file (a socket?); give a regular file (mode 0600) holding the PIN.`);
    throw new ConfigError(`The PIN file ${file} does not exist or cannot be read.`);
  }
  const buffer = Buffer.alloc(MAX_PIN_FILE_BYTES + 1);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new ConfigError(`The PIN file ${file} is a directory; give the file holding the PIN (mode 0600).`);
    if (!stat.isFile() && !mayWait)
      throw new ConfigError(
        `The PIN file ${file} is no longer a regular file (a FIFO or device?): a PIN is read again after start-up from a regular file only; write the PIN to a regular file (mode 0600) and rename it over ${file}.`,
      );
    if ((stat.mode & 0o077) !== 0) throw new ConfigError(`The PIN file ${file} is readable by other users; run: chmod 600 ${file}`);
    if (stat.isFile() && stat.size > MAX_PIN_FILE_BYTES) throw tooLarge(file);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_PIN_FILE_BYTES) throw tooLarge(file);
    const value = buffer.toString('utf8', 0, length).replace(/\r?\n$/, '');
    if (value === '') throw new ConfigError(`The PIN file ${file} is empty.`);
    return value;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`The PIN file ${file} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  } finally {
    buffer.fill(0);
    closeSync(fd);
  }
}

function tooLarge(file: string): ConfigError {
  return new ConfigError(`The PIN file ${file} holds more than ${MAX_PIN_FILE_BYTES} bytes: it is not a PIN file; give the file holding the PIN alone.`);
}

/**
 * The PIN for a login after the first (a re-login, a keyring's connection): a held PIN asks its
 * holder again where it can (`reread`), any other source is read again.
 */
export async function readPinForLogin(source: PinSource): Promise<string> {
  return 'reread' in source && source.reread ? source.reread() : rereadPin(source);
}
