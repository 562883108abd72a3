/**
 * `hsmkms` — the command line. Every command has `--help`; PINs and secrets are never taken
 * as arguments (files or environment variables only).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { KmsError } from '../core/errors.js';
import { StoreError, kmsErrorFromStore } from '../core/store-error.js';
import { serveCommand } from './serve.js';
import { principalCommand } from './principal.js';
import { policyCommand } from './policy.js';
import { quorumCommand } from './quorum.js';
import { tokenCommand } from './token.js';
import { tlsCommand } from './tls.js';
import { EXIT, exitQuietlyWhenOutputCloses } from './output.js';
import { auditCommand } from './audit.js';
import { caCommand } from './ca.js';
import { xksCommand } from './xks.js';
import { regionCommand } from './region.js';

const program = new Command()
  .name('hsmkms')
  .description('An AWS KMS-compatible key management service whose keys live in a PKCS#11 HSM.')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(serveCommand())
  .addCommand(principalCommand())
  .addCommand(policyCommand())
  .addCommand(quorumCommand())
  .addCommand(tokenCommand())
  .addCommand(tlsCommand())
  .addCommand(auditCommand())
  .addCommand(caCommand())
  .addCommand(xksCommand())
  .addCommand(regionCommand());

/** Commander's own errors become exceptions (it has printed them already) so that one place picks the status. */
function throwCommanderErrors(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwCommanderErrors(sub);
}
throwCommanderErrors(program);
exitQuietlyWhenOutputCloses();

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // --help and --version end with 0; everything else commander reports is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return;
  }
  // Errors meant for people get their message only; anything else is a bug worth a trace.
  if (error instanceof ConfigError || error instanceof KmsError) {
    process.stderr.write(`hsmkms: ${error.message}\n`);
  } else if (error instanceof StoreError) {
    process.stderr.write(`hsmkms: ${kmsErrorFromStore(error).message}\n`);
  } else {
    process.stderr.write(`hsmkms: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exitCode = EXIT.error;
});
