/** Runs the built `hsmkms` command (bin/hsmkms.js → dist/) as a user would. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const HSMKMS_BIN = fileURLToPath(new URL('../../bin/hsmkms.js', import.meta.url));
const run = promisify(execFile);

/** Runs `hsmkms <args>` to completion. */
export async function hsmkms(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [HSMKMS_BIN, ...args], { env: { ...process.env, ...env }, timeout: 120_000 });
}

export interface Served {
  child: ChildProcess;
  endpoint: string;
  stderr: () => string;
  /** What it wrote to stdout (its log lines) so far. */
  stdout: () => string;
  stop(): Promise<number | null>;
}

/** Starts `hsmkms serve <args>` and waits for its "listening on" line. */
export async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(process.execPath, [HSMKMS_BIN, 'serve', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hsmkms serve did not start:\n${err}`)), 60_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const m = /listening on (https?:\/\/[^\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hsmkms serve exited with ${code}:\n${err}`));
    });
  });
  return {
    child,
    endpoint,
    stderr: () => err,
    stdout: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** Whether a process (e.g. a server's worker) still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The options that point `hsmkms` at the run's SoftHSM2 token (see test/global-setup.ts). The
 * profile comes from the module's name (softhsm2), so the same options suit `hsmkms ca`, whose
 * `--profile` is the certificate profile.
 */
export function testTokenArgs(): string[] {
  const { HSMKMS_TEST_MODULE, HSMKMS_TEST_TOKEN, HSMKMS_TEST_PIN_FILE } = process.env;
  if (!HSMKMS_TEST_MODULE || !HSMKMS_TEST_TOKEN || !HSMKMS_TEST_PIN_FILE) throw new Error('test/global-setup.ts did not run');
  return ['--module', HSMKMS_TEST_MODULE, '--token-label', HSMKMS_TEST_TOKEN, '--pin-file', HSMKMS_TEST_PIN_FILE];
}

/** The pids of a process's children (from /proc). */
export function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
