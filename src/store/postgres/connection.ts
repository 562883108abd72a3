/**
 * How every connection of the PostgreSQL store is made: the pool's, the change feed's LISTEN
 * connection and the scheduler lease's. One place for the URL rules, the password source, the
 * schema and the timeouts.
 *
 * The password never travels in the URL (which ends up in argv, shell history and `ps`): a URL
 * carrying one is refused, and the password is read when the server asks for it from
 * PGPASSWORD or the password file (~/.pgpass, or PGPASSFILE), as libpq does.
 */
import pgpass from 'pgpass';
import type { ClientConfig } from 'pg';

/** Schema names the store accepts (a plain identifier: it is spliced into `search_path`). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Query parameters that carry secrets libpq would accept in a URL. */
const SECRET_PARAMETERS = ['password', 'sslpassword'];

/**
 * Why `url` cannot be used as the store's address, or undefined when it can: it must be a
 * `postgres://` or `postgresql://` URL without a password in it.
 */
export function storeUrlProblem(url: string): string | undefined {
  const match = /^(postgres(?:ql)?):\/\/([^/?#]*)/i.exec(url);
  if (!match) return 'the store must be a postgres://user@host:port/database URL';
  const authority = match[2]!;
  const at = authority.lastIndexOf('@');
  if (at >= 0 && authority.slice(0, at).includes(':'))
    return 'the store URL carries a password: remove it, and give the password in PGPASSWORD or ~/.pgpass instead';
  const query = url.indexOf('?');
  if (query >= 0) {
    const params = new URLSearchParams(url.slice(query + 1).split('#', 1)[0]);
    for (const name of SECRET_PARAMETERS)
      if (params.has(name)) return `the store URL carries a ${name}: remove it, and give the password in PGPASSWORD or ~/.pgpass instead`;
  }
  return undefined;
}

/** The store's address with anything after the host removed, for logs and messages. */
export function describeStoreUrl(url: string): string {
  const match = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/i.exec(url);
  return match ? `${match[1]}${match[2] ?? ''}` : 'postgres';
}

export interface ConnectionSettings {
  connectionString: string;
  /** Unqualified table names resolve here first (created by the store if missing). */
  schema?: string | undefined;
  /** Server-side limit per statement (default 10 s): a statement past it fails, the connection lives on. */
  statementTimeoutMs?: number | undefined;
  /** How long making a connection may take (default 5 s). */
  connectTimeoutMs?: number | undefined;
  /** Shown in `pg_stat_activity`, so operators can tell the store's connections apart. */
  applicationName?: string | undefined;
}

/**
 * The password for a connection, looked up when the server asks for one: PGPASSWORD, else the
 * password file. undefined when neither has one (trust or certificate authentication).
 */
async function passwordFor(params: { host?: string; port?: number; database?: string; user?: string }): Promise<string | undefined> {
  const fromEnv = process.env.PGPASSWORD;
  if (fromEnv) return fromEnv;
  return new Promise((resolve) => pgpass(params, (password: string | undefined) => resolve(password)));
}

/** A `pg` client configuration for the store's settings. */
export function clientConfig(settings: ConnectionSettings): ClientConfig {
  const problem = storeUrlProblem(settings.connectionString);
  if (problem) throw new Error(`postgres metadata store: ${problem}`);
  if (settings.schema !== undefined && !SCHEMA_NAME.test(settings.schema))
    throw new Error(`postgres metadata store: schema name ${JSON.stringify(settings.schema)} must match ${SCHEMA_NAME}`);
  const options = [
    ...(settings.schema ? [`-c search_path=${settings.schema}`] : []),
    `-c statement_timeout=${settings.statementTimeoutMs ?? 10_000}`,
    // A transaction left open by a stalled node must not hold its row locks for ever.
    '-c idle_in_transaction_session_timeout=60000',
  ];
  return {
    connectionString: settings.connectionString,
    options: options.join(' '),
    password: passwordFor as ClientConfig['password'],
    connectionTimeoutMillis: settings.connectTimeoutMs ?? 5_000,
    // Dead peers (a database host gone without a FIN) are found by TCP keep-alives.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: settings.applicationName ?? 'hsmkms',
  };
}
