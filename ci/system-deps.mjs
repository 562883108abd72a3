#!/usr/bin/env node
// Installs the Debian packages hsmkms needs at run time and in its tests, when they are missing.
// Runs as npm's preinstall step: as root it calls apt-get itself; otherwise it prints the exact
// command and stops the install, because nothing that follows works without them.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** A PostgreSQL server of any version (the tests start a throwaway cluster of their own). */
const hasPostgresServer = () =>
  existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));

/**
 * Debian package → a file that proves it is installed. softhsm2 and opensc are needed to run;
 * awscli (the AWS CLI v2), wrk and postgresql are for the tests and `npm run bench`.
 */
const packages = {
  softhsm2: '/usr/lib/softhsm/libsofthsm2.so',
  opensc: '/usr/bin/pkcs11-tool',
  awscli: '/usr/bin/aws',
  wrk: '/usr/bin/wrk',
  postgresql: hasPostgresServer,
};

if (process.env.HSMKMS_SKIP_SYSTEM_DEPS === '1' || process.platform !== 'linux') process.exit(0);

const missing = Object.entries(packages)
  .filter(([, probe]) => !(typeof probe === 'function' ? probe() : existsSync(probe)))
  .map(([name]) => name);
if (missing.length === 0) process.exit(0);

const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
if (!existsSync('/usr/bin/apt-get')) {
  console.error(`hsmkms needs these packages (Debian names): ${missing.join(', ')}. Install them with your package manager.`);
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  console.error(`hsmkms needs Debian packages that are missing: ${missing.join(', ')}.\nRun as root:\n  sudo sh -c '${command}'\nthen run npm install again.`);
  process.exit(1);
}
console.error(`hsmkms: installing ${missing.join(', ')} with apt-get …`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
