// @ts-check
// System (Debian) packages hsmkms needs, and the one decision about installing them that both
// `npm install` (ci/system-deps.mjs: what running needs) and `npm test` (ci/test-deps.mjs:
// what only tests and benchmarks need) share. Plain JavaScript: it runs before node_modules
// exists. Type-checked through JSDoc (tsconfig includes ci/*.mjs).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { sep } from 'node:path';

/**
 * One system package.
 * @typedef {object} SystemPackage
 * @property {string} name Debian package name (what `apt-get install` takes), or a label for a custom install.
 * @property {string} neededFor Why hsmkms needs it, shown when it is missing.
 * @property {() => boolean} present True when it is installed already.
 * @property {string} [install] A shell command that installs it, for packages `apt-get install <name>`
 *   cannot (run with `sh -c` as root, printed for others). Must not change the system's apt sources.
 * @property {boolean} [asUser] `install` needs no root (it writes only into the checkout): a checkout
 *   run by any user runs it, instead of telling them to run it as root (which would leave files in
 *   their checkout that they cannot remove).
 */

/** @param {string} path @returns {() => boolean} present when the file exists */
export const file = (path) => () => existsSync(path);

/** A PostgreSQL server of any version (the tests start a throwaway cluster of their own). */
export const postgresServer = () =>
  existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));

/**
 * Where this copy of hsmkms is being installed. npm runs install scripts in the package's own
 * directory: a dependency's lies under `node_modules`, and a global install sets npm_config_global.
 * A git dependency (`npm install git+https://…`) is first cloned into npm's cache and installed
 * there to run its prepare script: no `node_modules` in that path, but pacote marks the
 * preparation with _PACOTE_NO_PREPARE_.
 * @param {{ env: NodeJS.ProcessEnv, packageDir: string }} where
 * @returns {'checkout' | 'dependency' | 'global'}
 */
export function installContext({ env, packageDir }) {
  if (env.npm_config_global === 'true') return 'global';
  if (env._PACOTE_NO_PREPARE_) return 'dependency';
  if (packageDir.split(sep).includes('node_modules')) return 'dependency';
  return 'checkout';
}

/**
 * What to do about missing packages. Only a checkout run as root installs anything (apt-get
 * and custom commands), but for the custom commands that need no root (`asUser`); a checkout run
 * by anyone else is told the exact command and stops, since what follows needs the packages. A dependency or global install never runs apt-get:
 * it says what is missing and carries on (its user may run a real HSM, not SoftHSM2).
 * @param {{ context: 'checkout' | 'dependency' | 'global', isRoot: boolean, hasAptGet: boolean, missing: SystemPackage[], step: string }} situation
 *   `step` names what needs them, e.g. "npm install" or "npm test".
 * @returns {{ action: 'none' | 'install' | 'report' | 'stop', exitCode: 0 | 1, message?: string, commands: string[] }}
 *   `commands`: the shell commands that install the missing packages (run for `install`, shown otherwise).
 */
export function plan({ context, isRoot, hasAptGet, missing, step }) {
  if (missing.length === 0) return { action: 'none', exitCode: 0, commands: [] };
  const commands = installCommands(missing);
  const list = missing.map((p) => `  ${p.name} — ${p.neededFor}`).join('\n');
  const command = commands.join(' && ');
  if (context !== 'checkout')
    return {
      action: 'report',
      exitCode: 0,
      commands,
      message: `hsmkms: these system packages are missing:\n${list}\nhsmkms does not install system packages when it is installed ${context === 'global' ? 'globally' : 'as a dependency'}; to install them:\n  sudo sh -c '${command}'`,
    };
  if (!hasAptGet)
    return { action: 'stop', exitCode: 1, commands, message: `hsmkms: ${step} needs these Debian packages:\n${list}\nInstall them with your package manager.` };
  const installing = { action: /** @type {const} */ ('install'), exitCode: /** @type {const} */ (0), commands, message: `hsmkms: installing ${missing.map((p) => p.name).join(', ')} …` };
  if (isRoot) return installing;
  const needRoot = missing.filter((p) => !(p.asUser && p.install !== undefined));
  if (needRoot.length === 0) return installing;
  const rootCommands = installCommands(needRoot);
  const later = missing.filter((p) => !needRoot.includes(p)).map((p) => p.name);
  return {
    action: 'stop',
    exitCode: 1,
    commands: rootCommands,
    message:
      `hsmkms: ${step} needs these Debian packages, which are missing:\n${list}\nRun as root:\n  sudo sh -c '${rootCommands.join(' && ')}'\nthen run ${step} again` +
      (later.length > 0 ? ` (as yourself: it installs ${later.join(', ')} into the checkout).` : '.'),
  };
}

/**
 * The shell commands that install `packages`: one `apt-get install` for the plain ones (after
 * `apt-get update`), then each custom command.
 * @param {SystemPackage[]} packages
 */
export function installCommands(packages) {
  const plain = packages.filter((p) => p.install === undefined).map((p) => p.name);
  const custom = packages.flatMap((p) => (p.install === undefined ? [] : [p.install]));
  const apt = plain.length > 0 ? ['apt-get update -qq', `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${plain.join(' ')}`] : [];
  return [...apt, ...custom];
}

/**
 * Checks `packages` and acts on {@link plan}'s decision; returns the process exit code.
 * `run` executes one shell command (injectable so the decision can be tested without apt-get).
 * @param {SystemPackage[]} packages
 * @param {{ step: string, context?: 'checkout' | 'dependency' | 'global', env?: NodeJS.ProcessEnv, isRoot?: boolean, hasAptGet?: boolean,
 *   platform?: string, log?: (line: string) => void, run?: (command: string) => void }} [options]
 * @returns {number}
 */
export function ensurePackages(packages, options = { step: 'npm install' }) {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line) => console.error(line));
  if (env.HSMKMS_SKIP_SYSTEM_DEPS === '1' || (options.platform ?? process.platform) !== 'linux') return 0;
  const decision = plan({
    context: options.context ?? installContext({ env, packageDir: process.cwd() }),
    isRoot: options.isRoot ?? process.getuid?.() === 0,
    hasAptGet: options.hasAptGet ?? existsSync('/usr/bin/apt-get'),
    missing: packages.filter((p) => !p.present()),
    step: options.step,
  });
  if (decision.message) log(decision.message);
  if (decision.action !== 'install') return decision.exitCode;
  const run = options.run ?? ((command) => execFileSync('sh', ['-c', command], { stdio: 'inherit' }));
  const retry = `Install them yourself:\n  sh -c '${decision.commands.join(' && ')}'\nthen run ${options.step} again.`;
  for (const command of decision.commands) {
    try {
      run(command);
    } catch (error) {
      // The command's own output (apt-get's) went to the terminal already: say which step failed, not a stack.
      const status = /** @type {{ status?: number | null }} */ (error).status;
      log(`hsmkms: installing the system packages failed: \`${command}\` ${typeof status === 'number' ? `exited with status ${status} (its output is above)` : `failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`}.\n${retry}`);
      return 1;
    }
  }
  // A command can succeed without providing what was checked for (another release's package layout).
  const still = packages.filter((p) => !p.present());
  if (still.length > 0) {
    log(`hsmkms: after installing, these are still missing:\n${still.map((p) => `  ${p.name} — ${p.neededFor}`).join('\n')}\n${retry}`);
    return 1;
  }
  return 0;
}

/** What running hsmkms needs: SoftHSM2 for the embedded token, OpenSC's pkcs11-tool. @type {SystemPackage[]} */
export const RUNTIME_PACKAGES = [
  { name: 'softhsm2', neededFor: 'the embedded SoftHSM2 token', present: file('/usr/lib/softhsm/libsofthsm2.so') },
  { name: 'opensc', neededFor: 'pkcs11-tool, to inspect tokens', present: file('/usr/bin/pkcs11-tool') },
];
