#!/usr/bin/env node
// @ts-check
// npm's preinstall step: the system packages running hsmkms needs (RUNTIME_PACKAGES). In a
// checkout, as root, it installs what is missing with apt-get; otherwise it prints the exact
// command. Installed as a dependency or globally it never runs apt-get (see plan() in
// ci/system-packages.mjs). What only tests and benchmarks need is ci/test-deps.mjs's.
import { RUNTIME_PACKAGES, ensurePackages } from './system-packages.mjs';

process.exitCode = ensurePackages(RUNTIME_PACKAGES, { step: 'npm install' });
