/**
 * Runs an `HsmKms.*` operation for a CLI command, in one of two ways:
 *
 * - **Offline, on the data directory** (default): the same operation the server runs, in
 *   process, as the operator — whoever can open the data directory and the HSM already holds
 *   every key to the service, so no policy is checked (and no quorum: this is the bootstrap and
 *   recovery path). Audited into the server's trail, naming the operator (see offline.ts).
 * - **Online, `--endpoint URL`**: a signed call with the caller's own credentials from the AWS
 *   environment variables, authorized (and audited) like any API call.
 */
import { Command, Option } from 'commander';
import { HsmKmsClient, HsmKmsError, credentialsFromEnv, regionFromEnv } from '../client/hsmkms-client.js';
import type { JsonObject } from '../core/operation.js';
import { ConfigError } from '../config/hsm.js';
import { addAuditDirOption } from './audit-options.js';
import { addHsmOptions } from './hsm-options.js';
import type { OfflineCliOptions } from './offline.js';
import { addServiceOptions } from './service-options.js';
import { addStoreOptions } from './store-options.js';

export interface AdminCliOptions extends OfflineCliOptions {
  endpoint?: string;
}

/** The data-directory options (with the audit directory) plus `--endpoint`. */
export function addAdminOptions(command: Command): Command {
  addStoreOptions(addAuditDirOption(addServiceOptions(addHsmOptions(command))));
  return command.addOption(
    new Option('--endpoint <url>', 'call a running server instead (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)').env(
      'HSMKMS_ENDPOINT',
    ),
  );
}

/** Calls `HsmKms.<name>` offline or online (see the module comment); returns its JSON output. */
export async function adminCall(options: AdminCliOptions, name: string, input: JsonObject): Promise<JsonObject> {
  if (options.endpoint) {
    const client = new HsmKmsClient({ endpoint: options.endpoint, region: regionFromEnv(options.region), credentials: credentialsFromEnv() });
    try {
      return await client.call(name, input);
    } catch (error) {
      if (error instanceof HsmKmsError) throw new ConfigError(`${error.name}: ${error.message}`);
      throw error;
    }
  }
  // Loaded only now: --help and --endpoint calls load no HSM, store or server code.
  const [{ adminOperations }, { multiRegionOperations }, { runOffline }] = await Promise.all([
    import('../core/admin/index.js'),
    import('../core/multi-region/index.js'),
    import('./offline.js'),
  ]);
  const operation = [...adminOperations, ...multiRegionOperations].find((op) => op.name === name);
  if (!operation) throw new Error(`no HsmKms operation ${name}`);
  return runOffline(options, operation, input);
}

/** `k=v` pairs (repeatable option) into a map; the first `=` splits. */
export function keyValues(pairs: readonly string[] | undefined, what: string): Array<[string, string]> {
  return (pairs ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${what} takes key=value, got '${pair.slice(0, 100)}'.`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/** Repeatable options collect into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
