/**
 * Runs an `HsmKms.*` operation for a CLI command, in one of two ways:
 *
 * - **Offline, on the data directory** (default): the same operation the server runs, in
 *   process, as the operator — whoever can open the data directory and the HSM already holds
 *   every key to the service, so no policy is checked (and no quorum: this is the bootstrap and
 *   recovery path). Nothing is audited through the API's trail.
 * - **Online, `--endpoint URL`**: a signed call with the caller's own credentials from the AWS
 *   environment variables, authorized (and audited) like any API call.
 */
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { openServices, quietLogger } from '../app.js';
import { HsmKmsClient, HsmKmsError, credentialsFromEnv, regionFromEnv } from '../client/hsmkms-client.js';
import { adminOperations } from '../core/admin/index.js';
import { rootArn } from '../core/admin/principals.js';
import { operatorAuthorizer } from '../core/authorization/authorizer.js';
import { KmsError } from '../core/errors.js';
import type { JsonObject, KmsDeps, Operation, RequestContext } from '../core/operation.js';
import { ConfigError } from '../config/hsm.js';
import { addHsmOptions, resolveHsmConfig, type HsmCliOptions } from './hsm-options.js';
import { addServiceOptions, progress, settingsFrom, type ServiceCliOptions } from './service-options.js';
import { addStoreOptions, storeConfigFrom, type StoreCliOptions } from './store-options.js';

export interface AdminCliOptions extends HsmCliOptions, ServiceCliOptions, StoreCliOptions {
  endpoint?: string;
}

/** The data-directory options plus `--endpoint`. */
export function addAdminOptions(command: Command): Command {
  addStoreOptions(addServiceOptions(addHsmOptions(command)));
  return command.addOption(
    new Option('--endpoint <url>', 'call a running server instead (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)').env(
      'HSMKMS_ENDPOINT',
    ),
  );
}

const byName = new Map<string, Operation>(adminOperations.map((op) => [op.name, op]));

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
  const operation = byName.get(name);
  if (!operation) throw new Error(`no HsmKms operation ${name}`);
  const settings = settingsFrom(options);
  const hsm = await resolveHsmConfig(options, progress);
  const services = await openServices(resolve(options.dataDir), hsm, quietLogger(), storeConfigFrom(options));
  try {
    const deps: KmsDeps = {
      store: services.store,
      backend: services.backend,
      clock: { now: () => new Date() },
      audit: { record: () => {} },
      authorizer: operatorAuthorizer,
      settings,
    };
    const now = new Date();
    const ctx: RequestContext = {
      requestId: 'cli',
      principal: { arn: rootArn(settings), name: 'root', accountId: settings.accountId, roles: ['CryptoOfficer', 'CryptoUser', 'Auditor'], createdAt: now },
    };
    return await operation.run(deps, ctx, input);
  } catch (error) {
    if (error instanceof KmsError) throw new KmsError(error.type, error.message);
    throw error;
  } finally {
    await services.close();
  }
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
