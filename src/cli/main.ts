/**
 * `hsmkms` — the command line. Every command has `--help`; PINs and secrets are never taken
 * as arguments (files or environment variables only).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { BackendError, KmsError } from '../core/errors.js';
import { StoreError, kmsErrorFromStore } from '../core/store-error.js';
import { EXIT, exitQuietlyWhenOutputCloses, printable } from './output.js';
import { VERSION } from '../version.js';

/**
 * The commands, loaded lazily: only the module of the command being run is imported, so
 * `hsmkms --help`, `--version` and a mistyped command load no command module, and each command
 * module loads the HSM, store and server code only when its action runs — `--help` of any
 * command, `--endpoint` calls and `audit verify` stay light.
 */
const COMMANDS: ReadonlyArray<{ name: string; description: string; load: () => Promise<Command> }> = [
  { name: 'serve', description: 'Serve the AWS KMS API (awsJson1_1 + SigV4) backed by the HSM.', load: async () => (await import('./serve.js')).serveCommand() },
  { name: 'principal', description: 'Manage the principals (IAM-style users) that may call the API.', load: async () => (await import('./principal.js')).principalCommand() },
  { name: 'policy', description: 'Key and identity policies.', load: async () => (await import('./policy.js')).policyCommand() },
  {
    name: 'quorum',
    description: 'M-of-N approval requests: list them, approve or reject them with your own credentials.',
    load: async () => (await import('./quorum.js')).quorumCommand(),
  },
  { name: 'token', description: 'Prepare PKCS#11 tokens.', load: async () => (await import('./token.js')).tokenCommand() },
  { name: 'tls', description: 'TLS offload: HTTPS whose private keys never leave the HSM.', load: async () => (await import('./tls.js')).tlsCommand() },
  { name: 'audit', description: 'Verify, read and search the audit trail.', load: async () => (await import('./audit.js')).auditCommand() },
  { name: 'ca', description: 'A private two-tier certificate authority whose keys are KMS keys in the HSM.', load: async () => (await import('./ca.js')).caCommand() },
  {
    name: 'xks',
    description: 'hsmkms as an external key store (XKS) proxy for AWS KMS: credentials and keys.',
    load: async () => (await import('./xks.js')).xksCommand(),
  },
  {
    name: 'key',
    description: 'Break-glass key administration, offline on the data directory (audited, no server needed).',
    load: async () => (await import('./key.js')).keyCommand(),
  },
  {
    name: 'region',
    description: 'Other regions (hsmkms deployments) that multi-Region keys are replicated to.',
    load: async () => (await import('./region.js')).regionCommand(),
  },
];

/** The command named on the command line (`hsmkms NAME …` or `hsmkms help NAME`), if any. */
function requestedCommand(argv: readonly string[]): string | undefined {
  const words = argv.slice(2).filter((arg) => !arg.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

const program = new Command()
  .name('hsmkms')
  .description('An AWS KMS-compatible key management service whose keys live in a PKCS#11 HSM.')
  .version(VERSION)
  .showHelpAfterError();

const requested = requestedCommand(process.argv);
for (const entry of COMMANDS) {
  // The others are listed by name and description only.
  const command = entry.name === requested ? await entry.load() : new Command(entry.name);
  program.addCommand(command.description(entry.description));
}

/** Commander's own errors become exceptions (it has printed them already) so that one place picks the status. */
function throwCommanderErrors(command: Command): void {
  command.exitOverride();
  for (const sub of command.commands) throwCommanderErrors(sub);
}
throwCommanderErrors(program);
exitQuietlyWhenOutputCloses();

/**
 * A message for the person at the terminal. Many echo what a caller chose (a key id, an alias, a
 * value the service refused): its control and bidirectional characters are shown escaped.
 */
function say(message: string): void {
  process.stderr.write(`hsmkms: ${printable(message)}\n`);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // --help and --version end with 0; everything else commander reports is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return;
  }
  // Errors meant for people get their message only; anything else is a bug worth a trace.
  if (error instanceof ConfigError || error instanceof KmsError) {
    say(error.message);
  } else if (error instanceof StoreError) {
    say(kmsErrorFromStore(error).message);
  } else if (error instanceof BackendError) {
    // The HSM failed or refused (e.g. `C_Login failed: CKR_GENERAL_ERROR`): its code says more than a trace.
    say(`the HSM failed: ${error.message}`);
  } else {
    // A trace keeps its lines; each is shown as say() shows a message.
    const trace = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`hsmkms: ${trace.split('\n').map(printable).join('\n')}\n`);
  }
  process.exitCode = EXIT.error;
  // A serve worker's IPC channel would keep it alive: its primary must see it exit.
  if (process.connected) process.exit(EXIT.error);
});
