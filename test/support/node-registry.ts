/**
 * The `hsmkms serve` processes a test worker starts, written down where the vitest run can find
 * them: a file named after each live child's pid in a directory the project's global set-up
 * made. A worker that dies (or a test whose clean-up never ran) leaves its files behind, and the
 * set-up's teardown ends those processes, so a failed run leaks no server.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Records `child` in `dir` until it exits. */
export function registerChild(dir: string, child: ChildProcess): void {
  if (child.pid === undefined) return;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, String(child.pid));
  writeFileSync(file, '');
  child.once('exit', () => rmSync(file, { force: true }));
}

/**
 * SIGKILLs every process still recorded in `dir` whose command line is still `marker`'s (a pid
 * the system has since given to another process is left alone); returns how many it ended.
 */
export function killRegistered(dir: string, marker: string): number {
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const pid of pids) {
    let commandLine = '';
    try {
      commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // Gone already.
    }
    if (!commandLine.includes(marker)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
      killed++;
    } catch {
      // Exited meanwhile.
    }
  }
  return killed;
}
