#!/usr/bin/env node
/**
 * Builds the PKCS#11 interposer (interposer.c) with the system C compiler and prints the path of
 * the module. The result is cached in build/pkcs11-interposer/<hash of the sources and flags>/,
 * so only a change rebuilds it. Used by test/global-setup.ts and by the benchmarks:
 *
 *   node test/pkcs11-interposer/build.mjs      # → /…/build/pkcs11-interposer/<hash>/libhsmkms-interposer.so
 *
 * Why not node-gyp at npm install: the interposer is a test tool, not part of what users run,
 * and it is a plain PKCS#11 module, not a Node addon — `cc` (present wherever the addon builds)
 * is all it needs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const SOURCES = ['interposer.c', 'forward.inc'];

/** Builds (or finds) the interposer and returns the path of the shared library. */
export function buildInterposer() {
  const include = join(dirname(createRequire(import.meta.url).resolve('pkcs11js')), 'includes', 'pkcs11');
  const flags = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-shared', '-fPIC', '-pthread', '-I', include];
  const hash = createHash('sha256');
  for (const file of SOURCES) hash.update(readFileSync(join(here, file)));
  hash.update(readFileSync(join(include, 'pkcs11t.h')));
  hash.update(flags.slice(0, -1).join(' '));
  const dir = join(root, 'build', 'pkcs11-interposer', hash.digest('hex').slice(0, 16));
  const library = join(dir, 'libhsmkms-interposer.so');
  if (existsSync(library)) return library;
  mkdirSync(dir, { recursive: true });
  const partial = `${library}.${process.pid}.tmp`;
  execFileSync('cc', [...flags, '-o', partial, join(here, 'interposer.c'), '-ldl'], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(partial, library);
  return library;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(buildInterposer());
