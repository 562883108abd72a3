/** Options naming the account and region the service answers for. */
import { Command, Option } from 'commander';
import type { KmsSettings } from '../core/operation.js';
import { ConfigError } from '../config/hsm.js';
import { printable } from './output.js';

export interface ServiceCliOptions {
  accountId: string;
  region: string;
}

export function addServiceOptions(command: Command): Command {
  return command
    .addOption(new Option('--account-id <id>', 'AWS account id in ARNs').env('HSMKMS_ACCOUNT_ID').default('111122223333'))
    .addOption(new Option('--region <region>', 'region in ARNs and the SigV4 scope').env('HSMKMS_REGION').default('us-east-1'));
}

export function settingsFrom(options: ServiceCliOptions): KmsSettings {
  if (!/^\d{12}$/.test(options.accountId)) throw new ConfigError(`--account-id must be 12 digits, got '${options.accountId}'.`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(options.region)) throw new ConfigError(`--region must look like us-east-1, got '${options.region}'.`);
  return { accountId: options.accountId, region: options.region, partition: 'aws' };
}

/**
 * Progress lines go to stderr so stdout stays machine-readable. Some carry text that neither the
 * operator nor hsmkms chose (a CSR's subject, the detail of a policy document that does not parse,
 * a peer's answer): its control and bidirectional characters are shown escaped (see {@link printable}).
 */
export const progress = (message: string): void => {
  process.stderr.write(`hsmkms: ${printable(message)}\n`);
};

/** `--log-level`, as `serve` and `tls proxy` take it: JSON lines on stdout at this level and above. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').env('HSMKMS_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
}
