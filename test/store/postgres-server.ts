/**
 * A PostgreSQL server for the store tests: the one named by HSMKMS_TEST_POSTGRES_URL, or else
 * a throwaway cluster started from the Debian `postgresql` package's binaries (initdb in a
 * temporary directory, listening on a Unix socket only, trust auth), stopped afterwards.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  connectionString: string;
  stop(): void;
  /** Stops the server (fast shutdown: connections are closed) and keeps its data; only for a cluster this process started. */
  halt?(): void;
  /** Starts a halted server again on the same socket. */
  resume?(): void;
}

/** Where the server binaries are, or why there is no server to test against. */
export function findPostgres(): { url: string } | { bin: string } | { missing: string } {
  const url = process.env.HSMKMS_TEST_POSTGRES_URL;
  if (url) return { url };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return { bin };
  }
  return { missing: 'no PostgreSQL: set HSMKMS_TEST_POSTGRES_URL or `apt-get install postgresql`' };
}

export function startPostgres(): TestPostgres {
  const found = findPostgres();
  if ('url' in found) return { connectionString: found.url, stop: () => undefined };
  if ('missing' in found) throw new Error(found.missing);
  const dir = mkdtempSync(join(tmpdir(), 'hsmkms-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root; as root, run it as the package's `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(found.bin, tool), ...args]] : [join(found.bin, tool), args];
    execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  };
  if (asRoot) {
    const ids = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(ids), Number(gid));
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--locale=C', '--encoding=UTF8', '--no-sync']);
  // Several three-node deployments (a dozen connections each) may share one server.
  const start = () => run('pg_ctl', ['-D', data, '-w', '-s', '-l', join(dir, 'log'), '-o', `-k ${dir} -c listen_addresses= -c fsync=off -c max_connections=400`, 'start']);
  start();
  return {
    connectionString: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`,
    halt: () => run('pg_ctl', ['-D', data, '-w', '-s', '-m', 'fast', 'stop']),
    resume: start,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-w', '-s', '-m', 'immediate', 'stop']);
      } catch {
        // Halted already.
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
