/**
 * `--store` and `--store-schema`: where the metadata lives. Every command that opens the store
 * takes them (serve, and the offline principal, policy, xks and ca commands), so the CLI works
 * on the same database as the nodes it administers.
 */
import { Command, Option } from 'commander';
import { ConfigError } from '../config/hsm.js';
import type { StoreConfig } from '../store/open-store.js';
import { SCHEMA_NAME, storeUrlProblem } from '../store/postgres/connection.js';

export interface StoreCliOptions {
  store?: string;
  storeSchema?: string;
}

export function addStoreOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--store <url>',
        "metadata store: 'sqlite' (in the data directory; the default) or postgres://user@host:port/database shared by several nodes " +
          '(password from PGPASSWORD or ~/.pgpass, never in the URL)',
      ).env('HSMKMS_STORE_URL'),
    )
    .addOption(new Option('--store-schema <name>', 'PostgreSQL schema to keep the tables in (created if missing; default: the search path\'s)').env('HSMKMS_STORE_SCHEMA'));
}

/** The store the options name; throws ConfigError for a URL with a password, or another mistake. */
export function storeConfigFrom(options: StoreCliOptions): StoreConfig {
  const url = options.store;
  if (url === undefined || url === '' || url === 'sqlite') {
    if (options.storeSchema !== undefined) throw new ConfigError('--store-schema needs a PostgreSQL store (--store postgres://…).');
    return { kind: 'sqlite' };
  }
  const problem = storeUrlProblem(url);
  // Never repeat the URL: it may hold the very password that made it wrong.
  if (problem) throw new ConfigError(`--store: ${problem}.`);
  if (options.storeSchema !== undefined && !SCHEMA_NAME.test(options.storeSchema))
    throw new ConfigError(`--store-schema must be a plain lower-case identifier (letters, digits, _), got '${options.storeSchema.slice(0, 80)}'.`);
  return { kind: 'postgres', url, schema: options.storeSchema };
}
