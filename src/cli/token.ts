/** `hsmkms token …`: prepare PKCS#11 tokens. */
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, readPin } from '../config/hsm.js';
import { pinSource } from './hsm-options.js';
import { progress } from './service-options.js';

interface TokenInitOptions {
  label: string;
  dataDir: string;
  module?: string;
  slot?: string;
  pinFile?: string;
  pinEnv?: string;
  soPinFile?: string;
  soPinEnv?: string;
}

export function tokenCommand(): Command {
  // Its description is main.ts's (the command list loads no command module).
  const token = new Command('token');
  const init = new Command('init')
    .description(
      'Initialise a token with a label. Without --module: a new token in the embedded SoftHSM2 of the data directory, ' +
        'with generated PINs stored in <data-dir>/<label>.pin and <label>.so.pin (mode 0600). ' +
        'With --module: the given slot of that library, PINs from files or environment variables.',
    )
    .requiredOption('--label <label>', 'token label (1–32 characters)')
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded token').env('HSMKMS_DATA_DIR').default('./data'))
    .addOption(new Option('--module <path>', 'PKCS#11 library of a real HSM').env('HSMKMS_PKCS11_MODULE'))
    .option('--slot <id>', 'slot id to initialise (with --module; default: the first slot with an uninitialised token)')
    .option('--pin-file <file>', 'file with the new user PIN')
    .option('--pin-env <name>', 'environment variable with the new user PIN')
    .option('--so-pin-file <file>', 'file with the security officer PIN')
    .option('--so-pin-env <name>', 'environment variable with the security officer PIN');
  init.action(async (options: TokenInitOptions) => {
    if (options.label.length < 1 || options.label.length > 32) throw new ConfigError('--label must be 1–32 characters.');
    // PKCS#11 code loads only now, not for --help (see main.ts).
    const { embeddedTokenPinFile, ensureEmbeddedToken, initToken } = await import('../backend/pkcs11/embedded-token.js');
    let modulePath = options.module;
    let userPin: string;
    let soPin: string;
    if (!modulePath) {
      // The embedded SoftHSM2: its configuration lives in the data directory.
      const dataDir = resolve(options.dataDir);
      const embedded = await ensureEmbeddedToken(dataDir, progress);
      modulePath = embedded.modulePath;
      const safe = options.label.replace(/[^A-Za-z0-9_.-]/g, '_');
      userPin = pinFromOptionsOrNew(options.pinFile, options.pinEnv, embeddedTokenPinFile(dataDir, options.label));
      soPin = pinFromOptionsOrNew(options.soPinFile, options.soPinEnv, join(dataDir, `${safe}.so.pin`));
    } else {
      userPin = readPin(pinSource(options.pinFile, options.pinEnv, '--pin-file or --pin-env'));
      soPin = readPin(pinSource(options.soPinFile, options.soPinEnv, '--so-pin-file or --so-pin-env'));
    }
    const slotId = options.slot === undefined ? undefined : Number(options.slot);
    if (slotId !== undefined && !Number.isInteger(slotId)) throw new ConfigError(`--slot must be a number, got '${options.slot}'.`);
    progress(`initialising token '${options.label}' …`);
    const result = await initToken({ modulePath, slotId, label: options.label, soPin, userPin });
    process.stdout.write(`${JSON.stringify({ label: options.label, ...result })}\n`);
  });
  return token.addCommand(init);
}

/** For the embedded token: use the given PIN, or generate one into `defaultFile` (0600). */
function pinFromOptionsOrNew(file: string | undefined, env: string | undefined, defaultFile: string): string {
  if (file || env) return readPin(pinSource(file, env, 'a PIN file or variable'));
  if (existsSync(defaultFile)) throw new ConfigError(`${defaultFile} exists already: is the token initialised? Remove the file to start over.`);
  const pin = randomBytes(12).toString('hex');
  writeFileSync(defaultFile, pin, { mode: 0o600 });
  progress(`PIN stored in ${defaultFile}`);
  return pin;
}
