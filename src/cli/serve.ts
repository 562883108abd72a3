/** `hsmkms serve`: the KMS endpoint. */
import { Command, Option } from 'commander';
import { ConfigError } from '../config/hsm.js';
import { createApp } from '../app.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';

interface ServeOptions extends HsmCliOptions, ServiceCliOptions {
  host: string;
  port: string;
  logLevel: string;
}

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('Serve the AWS KMS API (awsJson1_1 + SigV4) backed by the HSM.')
    .addOption(new Option('--host <host>', 'address to listen on').env('HSMKMS_HOST').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port to listen on').env('HSMKMS_PORT').default('7600'))
    .addOption(
      new Option('--log-level <level>', 'log level').env('HSMKMS_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    );
  addServiceOptions(addHsmOptions(command));
  return command.action(async (options: ServeOptions) => {
    const port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be 0–65535, got '${options.port}'.`);
    const settings = settingsFrom(options);
    const hsm = await resolveHsmConfig(options, progress);
    const rootCredentials = rootCredentialsFromEnv();
    const app = await createApp({ dataDir: options.dataDir, hsm, settings, rootCredentials, logLevel: options.logLevel });
    const address = await app.server.listen({ host: options.host, port });
    if (app.root.generated) progress(`generated root credentials in ${app.root.file} (mode 0600)`);
    else if (app.root.file) progress(`root credentials: ${app.root.file}`);
    else progress(`root access key id: ${app.root.accessKeyId} (from HSMKMS_ROOT_ACCESS_KEY_ID)`);
    progress(`listening on ${address} (account ${settings.accountId}, region ${settings.region})`);
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      progress(`${signal}: shutting down`);
      app.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

function rootCredentialsFromEnv(): { accessKeyId: string; secretAccessKey: string } | undefined {
  const accessKeyId = process.env.HSMKMS_ROOT_ACCESS_KEY_ID;
  const secretAccessKey = process.env.HSMKMS_ROOT_SECRET_ACCESS_KEY;
  if (!accessKeyId && !secretAccessKey) return undefined;
  if (!accessKeyId || !secretAccessKey)
    throw new ConfigError('Set both HSMKMS_ROOT_ACCESS_KEY_ID and HSMKMS_ROOT_SECRET_ACCESS_KEY, or neither.');
  return { accessKeyId, secretAccessKey };
}
