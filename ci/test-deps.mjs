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
import { pathToFileURL } from 'node:url';
import { RUNTIME_PACKAGES, ensurePackages, file, postgresServer } from './system-packages.mjs';

/** @type {import('./system-packages.mjs').SystemPackage[]} */
export const TEST_PACKAGES = [
  { name: 'awscli', neededFor: 'API tests with the AWS CLI v2 (/usr/bin/aws)', present: file('/usr/bin/aws') },
  { name: 'postgresql', neededFor: 'the metadata store contract tests on PostgreSQL', present: postgresServer },
  { name: 'wrk', neededFor: 'npm run bench (HTTP load)', present: file('/usr/bin/wrk') },
  { name: 'chromium', neededFor: 'the web console end-to-end tests (headless, driven by playwright-core)', present: file('/usr/bin/chromium') },
];

// Tests run the service, so they need what running needs too (already there after npm install).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = ensurePackages([...RUNTIME_PACKAGES, ...TEST_PACKAGES], { step: 'npm test' });
