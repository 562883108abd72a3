// @ts-check
// The custom install of the `zlint` entry of TEST_PACKAGES (ci/test-deps.mjs): the certificate
// linter the private CA's tests run.
//
// zlint is not packaged for Debian 12 (bookworm); Debian 13 (trixie) packages zlint 3.6.2, a
// static Go binary that runs here. It is fetched with `apt-get download` through a temporary
// source list and list directory of our own — the system's sources, lists and dpkg database
// are never changed — and unpacked with `dpkg-deb -x` into a cache directory.
//
// `node ci/test-deps/zlint.mjs` fetches it (the entry's `install` command).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Debian release whose zlint package is fetched. */
const ZLINT_SUITE = 'trixie';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Where the unpacked zlint binary is kept between runs. */
export const CACHE_DIR = join(root, 'node_modules', '.cache', 'hsmkms-test-deps');
/** The zlint binary the CA tests run. */
export const ZLINT_PATH = join(CACHE_DIR, 'zlint');

/** @param {string} binary @param {string[]} args */
function works(binary, args) {
  try {
    execFileSync(binary, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * The Debian mirror the system already uses for its main suite, read from its apt sources
 * (deb822 `.sources` files or one-line `sources.list`), so no host is named here and a local
 * mirror keeps working. Security and third-party repositories are skipped.
 */
export function systemDebianMirror() {
  const codename = /^VERSION_CODENAME=(\S+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  if (!codename) throw new Error('/etc/os-release names no VERSION_CODENAME');
  const files = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d'))
    for (const name of readdirSync('/etc/apt/sources.list.d')) if (/\.(sources|list)$/.test(name)) files.push(join('/etc/apt/sources.list.d', name));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        /** @param {string} name */
        const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb') || !field('Components').includes('main')) continue;
        if (!field('Suites').includes(codename)) continue;
        const uri = field('URIs')[0];
        if (uri) return uri;
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
        if (m?.[1] && m[2] === codename && m[3]?.split(/\s+/).includes('main')) return m[1];
      }
    }
  }
  throw new Error(`no Debian ${codename} main source found in the system's apt sources`);
}

/** Whether a working zlint is in place (the entry's `present`). */
export function zlintPresent() {
  return existsSync(ZLINT_PATH) && works(ZLINT_PATH, ['-version']);
}

/**
 * The path of a working zlint binary, fetching it into CACHE_DIR on first use. Idempotent and
 * safe to call from several processes at once (each downloads into a directory of its own;
 * the binary is moved into place with an atomic rename).
 */
export function ensureZlint() {
  const target = ZLINT_PATH;
  if (zlintPresent()) return target;
  if (process.getuid?.() !== 0 && !existsSync('/usr/bin/apt-get')) throw new Error('zlint is fetched with apt-get download; this machine has no apt-get');
  const work = mkdtempSync(join(tmpdir(), 'hsmkms-zlint-'));
  try {
    const etc = join(work, 'etc');
    const lists = join(work, 'lists');
    const cache = join(work, 'cache');
    for (const dir of [etc, join(lists, 'partial'), join(cache, 'archives', 'partial')]) mkdirSync(dir, { recursive: true });
    // apt's download sandbox user must be able to write here.
    chmodSync(work, 0o755);
    writeFileSync(
      join(etc, 'sources.list'),
      `deb [signed-by=${KEYRING}] ${systemDebianMirror()} ${ZLINT_SUITE} main\n`,
    );
    const apt = [
      '-o', `Dir::Etc::SourceList=${join(etc, 'sources.list')}`,
      '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State::Lists=${lists}`,
      '-o', `Dir::Cache=${cache}`,
      '-o', 'APT::Sandbox::User=root',
      '-o', 'Debug::NoLocking=1',
    ];
    execFileSync('apt-get', [...apt, 'update', '-qq'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    execFileSync('apt-get', [...apt, 'download', '-qq', 'zlint'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
    const deb = readdirSync(work).find((f) => /^zlint_.*\.deb$/.test(f));
    if (!deb) throw new Error('apt-get download zlint produced no .deb');
    const unpacked = join(work, 'root');
    execFileSync('dpkg-deb', ['-x', join(work, deb), unpacked], { stdio: 'ignore' });
    mkdirSync(CACHE_DIR, { recursive: true });
    const staged = join(CACHE_DIR, `zlint.${process.pid}`);
    copyFileSync(join(unpacked, 'usr', 'bin', 'zlint'), staged);
    chmodSync(staged, 0o755);
    renameSync(staged, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!works(target, ['-version'])) throw new Error(`${target} does not run on this machine`);
  return target;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) console.log(ensureZlint());
