/**
 * The command line loads only what a command needs: `--help`, `--version`, a mistyped command
 * and the help of every command load no PKCS#11, store or server code (and the light ones
 * nothing heavy at all), so they answer at once and work where no HSM library is installed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { HSMKMS_BIN } from '../support/cli.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'hsmkms-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A preload that reports, at exit, the npm packages the process loaded (CommonJS ones, as these all are). */
const preload = join(dir, 'report-packages.cjs');
writeFileSync(
  preload,
  `process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (m) names.add(m[1]);
  }
  process.stderr.write('PACKAGES ' + JSON.stringify([...names]) + '\\n');
});\n`,
);

/** The HSM, store and server graph. */
const SERVER_GRAPH = ['pkcs11js', 'graphene-pk11', 'better-sqlite3', 'kysely', 'pg', 'fastify', 'pino'];
/** …and the other heavy libraries, which only some commands' options need. */
const HEAVY = [...SERVER_GRAPH, '@aws-sdk/client-kms', '@peculiar/x509'];

async function packagesLoadedBy(args: string[]): Promise<{ packages: string[]; code: number; stdout: string }> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  try {
    ({ stdout, stderr } = await run(process.execPath, ['--require', preload, HSMKMS_BIN, ...args], { timeout: 60_000 }));
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    ({ stdout, stderr, code } = e);
  }
  const line = /^PACKAGES (.*)$/m.exec(stderr);
  if (!line) throw new Error(`no package report from hsmkms ${args.join(' ')}:\n${stderr}`);
  return { packages: JSON.parse(line[1]!) as string[], code, stdout };
}

describe('hsmkms loads lazily', () => {
  it.each([
    [['--help']],
    [['--version']],
    [['help', 'serve']],
    [['serve', '--help']],
    [['principal', 'create', '--help']],
    [['policy', 'explain', '--help']],
    [['quorum', 'list', '--help']],
    [['token', 'init', '--help']],
    [['audit', 'verify', '--help']],
    [['xks', 'key', 'create', '--help']],
    [['key', 'put-policy', '--help']],
  ])('hsmkms %j loads nothing heavy', async (args) => {
    const { packages, code, stdout } = await packagesLoadedBy(args);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^(Usage: hsmkms|0\.1\.0)/);
    expect(packages.filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it.each([[['ca', 'issue', '--help']], [['tls', 'proxy', '--help']]])('hsmkms %j loads no HSM, store or server code', async (args) => {
    const { packages, code } = await packagesLoadedBy(args);
    expect(code).toBe(0);
    expect(packages.filter((p) => SERVER_GRAPH.includes(p))).toEqual([]);
  });

  it('still lists every command with its description, and names a mistyped one', async () => {
    const { stdout } = await packagesLoadedBy(['--help']);
    for (const name of ['serve', 'principal', 'policy', 'quorum', 'token', 'tls', 'audit', 'ca', 'xks', 'key']) expect(stdout).toMatch(new RegExp(`^  ${name} .*\\w`, 'm'));
    const typo = await packagesLoadedBy(['principl']);
    expect(typo.code).toBe(2);
    expect(typo.packages.filter((p) => HEAVY.includes(p))).toEqual([]);
  });

  it('loads the server graph when a command needs it', async () => {
    // `audit public-key` opens the token: proof that the lazy imports still happen when they must.
    const { packages } = await packagesLoadedBy(['audit', 'public-key', '--data-dir', join(dir, 'data'), '--module', '/nonexistent/libpkcs11.so', '--token-label', 'x', '--pin-env', 'NO_SUCH_PIN']);
    expect(packages).toContain('pkcs11js');
  });
});
