#!/usr/bin/env node
// @ts-check
// `npm test`'s set-up (pretest): the system packages the tests and benchmarks need, installed
// as ci/system-deps.mjs installs the runtime ones (root: apt-get; others: the exact command).
//
// TEST_PACKAGES is the one table of them. To add one, add an entry:
//   { name: 'nginx-light', neededFor: 'the TLS benchmark', present: file('/usr/sbin/nginx') }
// `name` is the Debian package `apt-get install` takes. A package apt-get cannot install from
// the configured sources gets `install`: a shell command run as root (and printed for others),
// which must leave the system's apt sources unchanged, e.g. a .deb fetched with `apt-get
// download` against a temporary sources list (-o Dir::Etc::SourceList=…) and `dpkg -i`.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RUNTIME_PACKAGES, ensurePackages, file, postgresServer } from './system-packages.mjs';
import { zlintPresent } from './test-deps/zlint.mjs';

const zlintFetcher = fileURLToPath(new URL('./test-deps/zlint.mjs', import.meta.url));

/** @type {import('./system-packages.mjs').SystemPackage[]} */
export const TEST_PACKAGES = [
  { name: 'awscli', neededFor: 'API tests with the AWS CLI v2 (/usr/bin/aws)', present: file('/usr/bin/aws') },
  { name: 'postgresql', neededFor: 'the PostgreSQL store and scale-out tests, the three-nodes test project, and the scale-out benchmark', present: postgresServer },
  { name: 'wrk', neededFor: 'npm run bench (HTTP load)', present: file('/usr/bin/wrk') },
  { name: 'gnutls-bin', neededFor: 'the CA tests (GnuTLS certtool verifies issued chains)', present: file('/usr/bin/certtool') },
  {
    name: 'zlint',
    neededFor: 'the CA tests (certificate linter; zlint 3.6.2 from Debian 13, unpacked into node_modules/.cache/hsmkms-test-deps)',
    present: zlintPresent,
    install: `node ${zlintFetcher}`,
    // apt-get download into a temporary directory and an unpack into node_modules/.cache: no root.
    asUser: true,
  },
  { name: 'chromium', neededFor: 'the web console end-to-end tests (headless, driven by playwright-core)', present: file('/usr/bin/chromium') },
];

const nginxPeer = fileURLToPath(new URL('./test-deps/nginx-peer.mjs', import.meta.url));

/**
 * What only `npm run bench` needs, ensured by ci/bench/run.mjs before the sections that use it
 * (not by `npm test`: nginx is a web server, not installed on every machine that runs the tests).
 * @type {import('./system-packages.mjs').SystemPackage[]}
 */
export const BENCH_PACKAGES = [
  {
    name: 'nginx-light',
    neededFor: "the TLS benchmark's peer (nginx with libengine-pkcs11-openssl; installed with its service neither started nor enabled)",
    present: () => file('/usr/sbin/nginx')() && file('/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so')(),
    install: `node ${nginxPeer}`,
  },
];

/**
 * Ensures the named entries of TEST_PACKAGES, for tests that need them when run without `npm
 * test`'s set-up (`npx vitest run test/ca`); throws with the table's message when they cannot be.
 * @param {string[]} names
 * @param {string} step what needs them, e.g. "the CA tests"
 */
export function ensureTestPackages(names, step) {
  const wanted = TEST_PACKAGES.filter((p) => names.includes(p.name));
  if (wanted.length !== names.length) throw new Error(`not in TEST_PACKAGES: ${names.filter((n) => !wanted.some((p) => p.name === n)).join(', ')}`);
  if (ensurePackages(wanted, { step }) !== 0) throw new Error(`${step} need ${names.join(', ')} (see above)`);
}

// Tests run the service, so they need what running needs too (already there after npm install).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = ensurePackages([...RUNTIME_PACKAGES, ...TEST_PACKAGES], { step: 'npm test' });
