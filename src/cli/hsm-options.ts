/**
 * The HSM options every command that touches a token shares (`serve`, `tls …`, `token …`,
 * `principal …`): either an explicit PKCS#11 module/token/PIN source, or the embedded
 * SoftHSM2 token in the data directory (the development default, created on first use).
 * Defining the options loads no PKCS#11 code: `--help` stays light (see main.ts).
 */
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import type { Pkcs11BackendConfig } from '../backend/pkcs11/index.js';
import { ConfigError, type HsmProfileName, type PinSource } from '../config/hsm.js';

export interface HsmCliOptions {
  dataDir: string;
  hsm?: string;
  module?: string;
  tokenLabel?: string;
  tokenSerial?: string;
  pinFile?: string;
  pinEnv?: string;
  profile?: HsmProfileName;
  keyCacheSize?: string;
  hsmCallTimeout?: string;
  poolSize?: string;
}

/**
 * Adds the shared HSM options to a command. Each also reads an environment variable.
 * `vendorProfileFlag` renames `--profile` where the command has a profile of its own
 * (`ca issue --profile tls-server`); the value still lands in `options.profile` via
 * {@link resolveHsmConfig}'s caller.
 */
export function addHsmOptions(command: Command, { vendorProfileFlag = '--profile' }: { vendorProfileFlag?: string } = {}): Command {
  return command
    .addOption(new Option('--data-dir <dir>', 'data directory (embedded token, SQLite store, credentials)').env('HSMKMS_DATA_DIR').default('./data'))
    .addOption(
      new Option('--hsm <uri>', 'the HSM as an RFC 7512 URI: pkcs11:token=LABEL?module-path=/path/module.so&pin-source=file:/path/pin').env(
        'HSMKMS_HSM_URI',
      ),
    )
    .addOption(new Option('--module <path>', 'PKCS#11 module of a real HSM; omit to use the embedded SoftHSM2 token').env('HSMKMS_PKCS11_MODULE'))
    .addOption(new Option('--token-label <label>', 'token label').env('HSMKMS_TOKEN_LABEL'))
    .addOption(new Option('--token-serial <serial>', 'token serial number').env('HSMKMS_TOKEN_SERIAL'))
    .addOption(new Option('--pin-file <file>', 'file holding the PIN (mode 0600); CloudHSM: user:password').env('HSMKMS_PIN_FILE'))
    .addOption(new Option('--pin-env <name>', 'name of the environment variable holding the PIN').env('HSMKMS_PIN_ENV'))
    .addOption(new Option(`${vendorProfileFlag} <name>`, 'vendor profile').choices(['softhsm2', 'cloudhsm', 'generic']).env('HSMKMS_HSM_PROFILE'))
    .addOption(
      new Option('--hsm-call-timeout <ms>', 'how long an HSM call may take before it is given up: the request fails with DependencyTimeoutException, a TLS handshake fails (default 30000)').env(
        'HSMKMS_HSM_CALL_TIMEOUT_MS',
      ),
    )
    .addOption(
      new Option('--key-cache-size <n>', 'unwrapped key handles kept in the token (default 1024; keep below the HSM\'s session-key limit)').env(
        'HSMKMS_KEY_CACHE_SIZE',
      ),
    )
    .addOption(
      new Option(
        '--pool-size <n>',
        'PKCS#11 sessions per process, i.e. HSM calls in flight at once (default 8; a network HSM: see "Sizing the session pool" in the README)',
      ).env('HSMKMS_POOL_SIZE'),
    );
}

/**
 * Turns the options into a backend configuration. With no `--module`, the embedded SoftHSM2
 * token in the data directory is used (and created on first use).
 */
export async function resolveHsmConfig(options: HsmCliOptions, onProgress?: (message: string) => void): Promise<Pkcs11BackendConfig> {
  const config = await resolveToken(options, onProgress);
  const cacheSize = positiveInteger('--key-cache-size', options.keyCacheSize);
  const callTimeoutMs = positiveInteger('--hsm-call-timeout', options.hsmCallTimeout);
  const poolSize = positiveInteger('--pool-size', options.poolSize);
  if (poolSize !== undefined && poolSize > 256) throw new ConfigError(`--pool-size must be at most 256, got '${options.poolSize}'.`);
  return {
    ...config,
    ...(cacheSize !== undefined ? { cacheSize } : {}),
    ...(callTimeoutMs !== undefined ? { callTimeoutMs } : {}),
    ...(poolSize !== undefined ? { poolSize } : {}),
  };
}

function positiveInteger(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${option} must be a positive integer, got '${value}'.`);
  return n;
}

async function resolveToken(options: HsmCliOptions, onProgress?: (message: string) => void): Promise<Pkcs11BackendConfig> {
  const { detectProfile, hsmConfigFromUri } = await import('../backend/pkcs11/index.js');
  const { ensureEmbeddedToken } = await import('../backend/pkcs11/embedded-token.js');
  if (options.hsm) {
    if (options.module || options.tokenLabel || options.tokenSerial)
      throw new ConfigError('Give the HSM either as --hsm pkcs11:… or with --module/--token-label/--token-serial, not both.');
    const pin = options.pinFile || options.pinEnv ? pinSource(options.pinFile, options.pinEnv, '--pin-file or --pin-env') : undefined;
    return hsmConfigFromUri(options.hsm, { ...(pin ? { pin } : {}), ...(options.profile ? { profile: options.profile } : {}) });
  }
  if (!options.module) {
    if (options.tokenLabel || options.tokenSerial || options.pinFile || options.pinEnv)
      throw new ConfigError('--token-label, --token-serial, --pin-file and --pin-env need --module (the PKCS#11 library of your HSM).');
    return ensureEmbeddedToken(resolve(options.dataDir), onProgress);
  }
  if (!options.tokenLabel && !options.tokenSerial)
    throw new ConfigError('Name the token with --token-label or --token-serial (see `pkcs11-tool --module <path> --list-slots`).');
  const pin = pinSource(options.pinFile, options.pinEnv ?? (options.pinFile ? undefined : 'HSMKMS_PIN'), '--pin-file or --pin-env');
  return {
    modulePath: options.module,
    token: { label: options.tokenLabel, serial: options.tokenSerial },
    pin,
    profile: options.profile ?? detectProfile(options.module),
  };
}

/** A PIN source from a file option and an environment-variable option; exactly one may be given. */
export function pinSource(file: string | undefined, env: string | undefined, what: string): PinSource {
  if (file && env) throw new ConfigError(`Give ${what}, not both.`);
  if (file) return { file: resolve(file) };
  if (env) return { env };
  throw new ConfigError(`${what} is required with --module.`);
}
