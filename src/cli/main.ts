/**
 * `hsmkms` — the command line. Every command has `--help`; PINs and secrets are never taken
 * as arguments (files or environment variables only).
 */
import { Command } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { KmsError } from '../core/errors.js';
import { serveCommand } from './serve.js';
import { principalCommand } from './principal.js';
import { tokenCommand } from './token.js';
import { tlsCommand } from './tls.js';
import { xksCommand } from './xks.js';

const program = new Command()
  .name('hsmkms')
  .description('An AWS KMS-compatible key management service whose keys live in a PKCS#11 HSM.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(serveCommand())
  .addCommand(principalCommand())
  .addCommand(tokenCommand())
  .addCommand(tlsCommand())
  .addCommand(xksCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  // Errors meant for people get their message only; anything else is a bug worth a trace.
  if (error instanceof ConfigError || error instanceof KmsError) {
    process.stderr.write(`hsmkms: ${error.message}\n`);
  } else {
    process.stderr.write(`hsmkms: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exitCode = 1;
});
