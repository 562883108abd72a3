/**
 * Install hygiene: who may run apt-get, decided without running it. A checkout installs as
 * root and prints the command otherwise; a dependency or global install never installs.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  RUNTIME_PACKAGES,
  ensurePackages,
  installCommands,
  installContext,
  plan,
  type SystemPackage,
} from '../../ci/system-packages.mjs';
import { readFileSync } from 'node:fs';
import { BENCH_PACKAGES, TEST_PACKAGES } from '../../ci/test-deps.mjs';

/** What the simulated install commands have installed (each simulate starts afresh; its `run` adds every package it was given). */
const installed = new Set<string>();
const missingPkg = (name: string, extra: Partial<SystemPackage> = {}): SystemPackage => ({ name, neededFor: `${name} things`, present: () => installed.has(name), ...extra });
const presentPkg = (name: string): SystemPackage => ({ name, neededFor: 'x', present: () => true });

/** Runs ensurePackages with everything injected; returns what it ran and said. */
function simulate(
  packages: SystemPackage[],
  situation: {
    context: 'checkout' | 'dependency' | 'global';
    isRoot: boolean;
    hasAptGet?: boolean;
    env?: NodeJS.ProcessEnv;
    /** How the install commands behave: `works` (default) installs the packages, `noop` succeeds without, `fails` exits 100 on the first. */
    commands?: 'works' | 'noop' | 'fails';
  },
) {
  const ran: string[] = [];
  const said: string[] = [];
  installed.clear();
  const run = (command: string) => {
    ran.push(command);
    if (situation.commands === 'fails') throw Object.assign(new Error(`Command failed: sh -c ${command}`), { status: 100 });
    if (situation.commands !== 'noop') for (const p of packages) installed.add(p.name);
  };
  const exitCode = ensurePackages(packages, {
    step: 'npm install',
    context: situation.context,
    isRoot: situation.isRoot,
    hasAptGet: situation.hasAptGet ?? true,
    env: situation.env ?? {},
    platform: 'linux',
    log: (line) => said.push(line),
    run,
  });
  return { exitCode, ran, said: said.join('\n') };
}

describe('installContext', () => {
  it('tells a checkout from a dependency and a global install', () => {
    expect(installContext({ env: {}, packageDir: '/home/me/src/hsmkms' })).toBe('checkout');
    expect(installContext({ env: {}, packageDir: '/srv/app/node_modules/hsmkms' })).toBe('dependency');
    expect(installContext({ env: {}, packageDir: '/srv/app/node_modules/@scope/hsmkms' })).toBe('dependency');
    expect(installContext({ env: { npm_config_global: 'true' }, packageDir: '/usr/lib/node_modules/hsmkms' })).toBe('global');
    expect(installContext({ env: { npm_config_global: 'false' }, packageDir: '/home/me/hsmkms' })).toBe('checkout');
  });

  it('takes the clone npm prepares a git dependency in for a dependency, not a checkout', () => {
    // What `npm install git+https://…/hsmkms.git` gives the preinstall script of its clone
    // (observed with npm 10: the clone lies in npm's cache, and pacote marks the preparation).
    const env = { _PACOTE_NO_PREPARE_: 'git+https://example.com/hsmkms.git#0123456789abcdef0123456789abcdef01234567' };
    expect(installContext({ env, packageDir: '/home/me/.npm/_cacache/tmp/git-clonePTGzxf' })).toBe('dependency');
  });
});

describe('ensurePackages', () => {
  const packages = [presentPkg('softhsm2'), missingPkg('opensc')];

  it('in a checkout as root: installs only what is missing, with apt-get', () => {
    const { exitCode, ran, said } = simulate(packages, { context: 'checkout', isRoot: true });
    expect(exitCode).toBe(0);
    expect(ran).toEqual(['apt-get update -qq', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opensc']);
    expect(said).toContain('installing opensc');
  });

  it('in a checkout as root: reports a failed install command by name and status, without a stack, and stops', () => {
    const { exitCode, ran, said } = simulate(packages, { context: 'checkout', isRoot: true, commands: 'fails' });
    expect(exitCode).toBe(1);
    expect(ran).toEqual(['apt-get update -qq']);
    expect(said).toContain('installing the system packages failed: `apt-get update -qq` exited with status 100');
    expect(said).toContain("sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opensc'");
    expect(said).not.toMatch(/\n\s+at /);
  });

  it('in a checkout as root: stops when the commands succeed but the packages are still missing', () => {
    const { exitCode, ran, said } = simulate(packages, { context: 'checkout', isRoot: true, commands: 'noop' });
    expect(exitCode).toBe(1);
    expect(ran).toHaveLength(2);
    expect(said).toMatch(/still missing:\n {2}opensc — opensc things/);
    expect(said).not.toContain('softhsm2');
  });

  it('in a checkout as another user: prints the exact command and stops', () => {
    const { exitCode, ran, said } = simulate(packages, { context: 'checkout', isRoot: false });
    expect(exitCode).toBe(1);
    expect(ran).toEqual([]);
    expect(said).toContain("sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends opensc'");
    expect(said).toContain('opensc — opensc things');
  });

  it('in a checkout without apt-get: names the packages and stops', () => {
    const { exitCode, ran, said } = simulate(packages, { context: 'checkout', isRoot: true, hasAptGet: false });
    expect([exitCode, ran]).toEqual([1, []]);
    expect(said).toMatch(/needs these Debian packages:\n {2}opensc/);
  });

  it('as a dependency or globally: never installs, even as root; says what is missing and carries on', () => {
    for (const context of ['dependency', 'global'] as const)
      for (const isRoot of [true, false]) {
        const { exitCode, ran, said } = simulate(packages, { context, isRoot });
        expect({ context, isRoot, exitCode, ran }).toEqual({ context, isRoot, exitCode: 0, ran: [] });
        expect(said).toContain('opensc');
        expect(said).toContain(context === 'global' ? 'installed globally' : 'installed as a dependency');
      }
  });

  it('does nothing when everything is there, when told to skip, and off Linux', () => {
    expect(simulate([presentPkg('softhsm2')], { context: 'checkout', isRoot: true })).toEqual({ exitCode: 0, ran: [], said: '' });
    expect(simulate(packages, { context: 'checkout', isRoot: true, env: { HSMKMS_SKIP_SYSTEM_DEPS: '1' } })).toEqual({ exitCode: 0, ran: [], said: '' });
    const ran: string[] = [];
    expect(ensurePackages(packages, { step: 'npm install', context: 'checkout', isRoot: true, env: {}, platform: 'darwin', run: (c) => ran.push(c) })).toBe(0);
    expect(ran).toEqual([]);
  });

  it('runs a custom install command after apt-get, and prints it for others', () => {
    const zlint = missingPkg('zlint', { install: 'cd /tmp && apt-get download -o Dir::Etc::SourceList=/tmp/trixie.list zlint && dpkg -i zlint_*.deb' });
    const both = [missingPkg('gnutls-bin'), zlint];
    expect(simulate(both, { context: 'checkout', isRoot: true }).ran).toEqual([
      'apt-get update -qq',
      'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnutls-bin',
      zlint.install,
    ]);
    expect(installCommands([zlint])).toEqual([zlint.install]);
    expect(simulate(both, { context: 'checkout', isRoot: false }).said).toContain(`&& ${zlint.install}'`);
  });

  it('runs a custom install that needs no root (asUser) as any user, and leaves it out of the command for root', () => {
    const fetcher = missingPkg('zlint', { install: 'node /src/ci/test-deps/zlint.mjs', asUser: true });
    const alone = simulate([presentPkg('softhsm2'), fetcher], { context: 'checkout', isRoot: false });
    expect(alone).toEqual({ exitCode: 0, ran: [fetcher.install], said: 'hsmkms: installing zlint …' });

    const withApt = simulate([missingPkg('gnutls-bin'), fetcher], { context: 'checkout', isRoot: false });
    expect([withApt.exitCode, withApt.ran]).toEqual([1, []]);
    expect(withApt.said).toContain("sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnutls-bin'\n");
    expect(withApt.said).not.toContain(`${fetcher.install}'`);
    expect(withApt.said).toContain('zlint — zlint things');
    expect(withApt.said).toContain('it installs zlint into the checkout');
    // Root runs everything, as before; outside a checkout nothing runs.
    expect(simulate([missingPkg('gnutls-bin'), fetcher], { context: 'checkout', isRoot: true }).ran).toContain(fetcher.install);
    expect(simulate([fetcher], { context: 'dependency', isRoot: false }).ran).toEqual([]);
  });
});

describe('plan', () => {
  it('never installs outside a checkout', () => {
    for (const context of ['dependency', 'global'] as const)
      for (const isRoot of [true, false])
        for (const hasAptGet of [true, false])
          expect(plan({ context, isRoot, hasAptGet, missing: [missingPkg('x')], step: 'npm install' }).action).toBe('report');
    expect(plan({ context: 'checkout', isRoot: true, hasAptGet: true, missing: [missingPkg('x')], step: 'npm test' }).action).toBe('install');
  });
});

describe('the package tables', () => {
  it('keep running needs (npm install) apart from test and benchmark needs (npm test)', () => {
    expect(RUNTIME_PACKAGES.map((p) => p.name)).toEqual(['softhsm2', 'opensc']);
    const test = TEST_PACKAGES.map((p) => p.name);
    expect(test).toEqual(expect.arrayContaining(['awscli', 'postgresql', 'wrk', 'gnutls-bin', 'zlint']));
    // zlint comes from Debian 13 through its own fetcher, which leaves the system's apt sources alone.
    const zlint = TEST_PACKAGES.find((p) => p.name === 'zlint')!;
    expect(zlint.install).toMatch(/^node \S+\/ci\/test-deps\/zlint\.mjs$/);
    expect(zlint.install).not.toMatch(/\/etc\/apt|add-apt-repository|sources\.list/);
    // It unpacks into the checkout's node_modules/.cache: fetched as whoever runs npm test, never as root for them.
    expect(zlint.asUser).toBe(true);
    expect(TEST_PACKAGES.filter((p) => p.asUser).map((p) => p.name)).toEqual(['zlint']);
    expect(test.filter((n) => RUNTIME_PACKAGES.some((r) => r.name === n))).toEqual([]);
    expect(new Set(test).size).toBe(test.length);
  });

  it("keep the TLS benchmark's nginx peer out of npm test, installed with its service neither started nor enabled", () => {
    expect(TEST_PACKAGES.map((p) => p.name)).not.toContain('nginx-light');
    const nginx = BENCH_PACKAGES.find((p) => p.name === 'nginx-light')!;
    expect(nginx.install).toMatch(/^node \S+\/ci\/test-deps\/nginx-peer\.mjs$/);
    const script = readFileSync(nginx.install!.split(' ')[1]!, 'utf8');
    expect(script).toContain('/usr/sbin/policy-rc.d');
    expect(script).toMatch(/exit 101/);
    expect(script).toMatch(/'disable', 'nginx\.service'/);
    expect(script).toContain("'libengine-pkcs11-openssl'");
    expect(script).not.toMatch(/\/etc\/apt|add-apt-repository|sources\.list/);
  });

  it('ship the install-time scripts with the package, and not the test set-up', () => {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' })) as {
      files: { path: string }[];
      unpackedSize: number;
    }[];
    const files = packed[0]!.files.map((f) => f.path);
    const ci = files.filter((p) => p.startsWith('ci/'));
    expect(ci.sort()).toEqual(['ci/system-deps.mjs', 'ci/system-packages.mjs']);
    // What an installed copy runs and builds, and nothing of the tests, benchmarks or console sources.
    expect([...new Set(files.map((p) => p.split('/')[0]))].sort()).toEqual(['LICENSE', 'README.md', 'bin', 'binding.gyp', 'ci', 'dist', 'native', 'package.json', 'src']);
    const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8').replace(/^\s*#.*$/gm, '')) as { targets: { sources: string[] }[] };
    expect(gyp.targets[0]!.sources.filter((source) => !files.includes(source))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['bin/hsmkms.js', 'dist/cli/main.js', 'dist/console/index.html']));
    expect(files.filter((p) => /\.test\.|(^|\/)(test|bench)\//.test(p))).toEqual([]);
    expect(packed[0]!.unpackedSize).toBeLessThan(10 * 1024 * 1024);
  });
});
