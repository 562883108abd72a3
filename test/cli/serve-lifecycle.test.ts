/**
 * `hsmkms serve`'s primary over its workers' lives: a shutdown bounded even when a worker hangs;
 * a worker that fails at every restart started again after a growing delay, then the server
 * stopped; a one-shot PIN source (a FIFO) read once by the primary and handed to every worker
 * it starts, never through argv or the environment; a regular PIN file that a FIFO replaced
 * refused at once when read again, never waited for; a SIGHUP while the primary waits for its
 * PIN does not end it; the readiness line said once, with every
 * address the host stands for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, children, freePort, HSMKMS_BIN, serve, testTokenArgs, until } from '../support/cli.js';

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-lifecycle-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const common = () => ['--data-dir', dataDir, '--log-level', 'warn'];

/** A primary's exit: its status and when it came. */
function exited(child: ChildProcess): Promise<{ code: number | null; at: number }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve({ code: child.exitCode, at: Date.now() });
    child.once('exit', (code) => resolve({ code, at: Date.now() }));
  });
}

/** Kills what a failed test left running (a stopped worker is continued first, or SIGKILL waits on nothing). */
function cleanUp(pids: number[]): void {
  for (const pid of pids)
    if (alive(pid))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
}

describe('serve: shutdown', () => {
  it('SIGTERM stops the server within --shutdown-timeout although a worker hangs: it is killed, status 1', async () => {
    const served = await serve([...common(), '--port', '0', ...testTokenArgs(), '--shutdown-timeout', '3']);
    const primary = served.child.pid!;
    await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
    const [worker] = children(primary);
    try {
      // Stopped, it answers neither IPC nor SIGTERM: as a worker stuck in a PKCS#11 call that never returns.
      process.kill(worker!, 'SIGSTOP');
      const exit = exited(served.child);
      const sent = Date.now();
      served.child.kill('SIGTERM');
      const { code, at } = await Promise.race([exit, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running:\n${served.stderr()}`)), 20_000))]);
      expect(code).toBe(1);
      expect(at - sent).toBeGreaterThanOrEqual(3_000);
      expect(at - sent).toBeLessThan(15_000);
      expect(served.stderr()).toMatch(new RegExp(`shutdown: worker pid ${worker} did not stop within 3 s \\(--shutdown-timeout\\); killed it, exiting with status 1`));
      await until(() => !alive(worker!), 5_000, `worker ${worker} gone`);
    } finally {
      cleanUp([worker!, primary]);
    }
  }, 120_000);
});

describe('serve: a worker that fails at every restart', () => {
  it('is started again after a growing delay, and the server stops with status 1 saying why', async () => {
    // A file only workers read again when they start: gone, every restart fails at once.
    const policy = join(dataDir, 'xks-policy.json');
    writeFileSync(policy, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '111122223333' }, Action: 'kms:Encrypt', Resource: '*' }] }));
    const port = await freePort();
    const served = await serve([...common(), '--port', String(port), ...testTokenArgs(), '--xks-policy', `=${policy}`]);
    const primary = served.child.pid!;
    await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
    const [worker] = children(primary);
    try {
      rmSync(policy);
      const exit = exited(served.child);
      const crashed = Date.now();
      process.kill(worker!, 'SIGKILL');
      const { code, at } = await Promise.race([exit, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running:\n${served.stderr()}`)), 100_000))]);
      const err = served.stderr();
      expect(code).toBe(1);
      // Five restarts, each after twice the delay of the one before; the sixth exit stops the server.
      expect(err).toMatch(/worker 0 exited \(SIGKILL\); starting it again in 0\.5 s \(restart 1 of at most 5 within 60 s\)/);
      for (const [n, delay] of [[2, 1], [3, 2], [4, 4], [5, 8]]) expect(err).toContain(`worker 0 exited (1); starting it again in ${delay} s (restart ${n} of at most 5 within 60 s)`);
      expect(err).toMatch(/the policy file cannot be read \(ENOENT\)/);
      expect(err).toMatch(/worker 0 exited \(1\): 6 workers exited within 60 s \(at most 5 are started again\); see the workers' errors above; stopping/);
      expect(at - crashed).toBeGreaterThanOrEqual(15_500);
      expect(children(primary)).toEqual([]);
    } finally {
      cleanUp([...children(primary), primary]);
    }
  }, 150_000);
});

describe('serve --port 0', () => {
  it('a sole worker started again binds the port the server got, not a new one', async () => {
    const served = await serve([...common(), '--port', '0', ...testTokenArgs()]);
    const primary = served.child.pid!;
    const workers: number[] = [];
    try {
      await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
      workers.push(children(primary)[0]!);
      process.kill(workers[0]!, 'SIGKILL');
      await until(() => children(primary).some((pid) => !workers.includes(pid)), 30_000, 'a new worker under the primary');
      workers.push(children(primary).find((pid) => !workers.includes(pid))!);
      await until(() => /worker 0 exited \(SIGKILL\)/.test(served.stderr()), 10_000, 'the exit reported');
      await until(async () => (await fetch(`${served.endpoint}/health`).catch(() => undefined))?.status === 200, 60_000, `the new worker to serve at ${served.endpoint}:\n${served.stderr()}`);
      expect(children(primary)).toEqual([workers[1]]);
      expect(await served.stop()).toBe(0);
    } finally {
      cleanUp([...workers, primary]);
    }
  }, 120_000);
});

describe('serve: a PIN source that can be read once', () => {
  const pin = () => readFileSync(process.env.HSMKMS_TEST_PIN_FILE!, 'utf8').replace(/\r?\n$/, '');
  /** Whether the PIN is in a process's command line or initial environment. */
  const exposes = (pid: number, secret: string) =>
    ['cmdline', 'environ'].some((file) => readFileSync(`/proc/${pid}/${file}`).includes(Buffer.from(secret)));
  const [, module, , label] = (() => {
    const args = testTokenArgs();
    return [args[0], args[1]!, args[2], args[3]!];
  })();

  it('a FIFO: the primary reads it once; a worker started again gets the PIN over IPC, never in its argv or environment', async () => {
    const fifo = join(dataDir, 'pin.fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // One writer, one read: a second open of the FIFO would block for ever.
    const writer = spawn('sh', ['-c', `cat "$0" > "${fifo}"`, process.env.HSMKMS_TEST_PIN_FILE!], { stdio: 'ignore' });
    const port = await freePort();
    const served = await serve([...common(), '--port', String(port), '--module', module, '--token-label', label, '--pin-file', fifo]);
    const primary = served.child.pid!;
    const workers: number[] = [];
    try {
      await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
      workers.push(children(primary)[0]!);
      expect(exposes(workers[0]!, pin())).toBe(false);
      process.kill(workers[0]!, 'SIGKILL');
      await until(() => children(primary).some((pid) => !workers.includes(pid)), 30_000, 'a new worker under the primary');
      workers.push(children(primary).find((pid) => !workers.includes(pid))!);
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 60_000, `the new worker to serve:\n${served.stderr()}`);
      expect(exposes(workers[1]!, pin())).toBe(false);
      expect(served.stderr()).not.toContain(pin());
      expect(await served.stop()).toBe(0);
    } finally {
      writer.kill('SIGKILL');
      cleanUp([...workers, primary]);
    }
  }, 180_000);

  it('a regular PIN file replaced by a FIFO after start: a worker started again is refused at once, the primary keeps serving', async () => {
    const pinFile = join(dataDir, 'swapped.pin');
    writeFileSync(pinFile, pin(), { mode: 0o600 });
    const port = await freePort();
    const served = await serve([...common(), '--port', String(port), '--module', module, '--token-label', label, '--pin-file', pinFile]);
    const primary = served.child.pid!;
    const health = async () => (await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))?.status;
    try {
      await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
      const [first] = children(primary);
      rmSync(pinFile);
      execFileSync('mkfifo', ['-m', '600', pinFile]);
      process.kill(first!, 'SIGKILL');
      // Before, the primary read the FIFO with a blocking open(2) when the new worker asked for
      // the PIN: it waited for a writer for ever, and with it every connection it hands on.
      await until(() => served.stderr().includes('is no longer a regular file'), 30_000, `the worker to be refused the PIN:\n${served.stderr()}`);
      expect(served.stderr()).toContain(`The PIN file ${pinFile} is no longer a regular file`);
      // The PIN written back as the message says (a regular file renamed over the FIFO): the next restart serves.
      writeFileSync(`${pinFile}.new`, pin(), { mode: 0o600 });
      renameSync(`${pinFile}.new`, pinFile);
      await until(async () => (await health()) === 200, 60_000, `a worker to serve again:\n${served.stderr()}`);
      expect(served.stderr()).not.toContain(pin());
      expect(await served.stop()).toBe(0);
    } finally {
      cleanUp([...children(primary), primary]);
    }
  }, 180_000);

  it('SIGHUP while the primary waits for a FIFO\'s PIN does not end it: it serves once the PIN is written, and the signal is not lost', async () => {
    const fifo = join(dataDir, 'late.fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const port = await freePort();
    // Not serve(): it would wait for the readiness line, which needs the PIN.
    const child = spawn(process.execPath, [HSMKMS_BIN, 'serve', ...common(), '--port', String(port), '--module', module, '--token-label', label, '--pin-file', fifo], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let writer: ChildProcess | undefined;
    try {
      // The primary is in open(2) on the FIFO once its start-up messages are out (it resolves the HSM first).
      await until(() => stderr.includes('SIGHUP') || readFileSync(`/proc/${child.pid}/wchan`, 'utf8') === 'wait_for_partner', 30_000, 'the primary to wait for the FIFO');
      child.kill('SIGHUP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Before, SIGHUP's default action ended it here (status 129, nothing said).
      expect(child.exitCode).toBeNull();
      expect(child.signalCode).toBeNull();
      writer = spawn('sh', ['-c', `cat "$0" > "${fifo}"`, process.env.HSMKMS_TEST_PIN_FILE!], { stdio: 'ignore' });
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 60_000, `the server to start:\n${stderr}`);
      // Handled once open(2) returns: by then the primary forwards it to its worker, which reloads once it listens.
      await until(() => /SIGHUP( during start-up: nothing to reload yet|: XKS policies reloaded)/.test(stderr), 10_000, `the SIGHUP to be handled:\n${stderr}`);
      expect(await new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')))).toBe(0);
    } finally {
      writer?.kill('SIGKILL');
      cleanUp([...children(child.pid!), child.pid!]);
    }
  }, 120_000);

  it('--pin-env: the primary unsets the variable, so its workers do not inherit the PIN', async () => {
    const served = await serve([...common(), '--port', '0', '--module', module, '--token-label', label, '--pin-env', 'HSMKMS_LIFECYCLE_PIN'], { HSMKMS_LIFECYCLE_PIN: pin() });
    const primary = served.child.pid!;
    try {
      await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
      const [worker] = children(primary);
      expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
      expect(exposes(worker!, pin())).toBe(false);
      expect(await served.stop()).toBe(0);
    } finally {
      cleanUp([...children(primary), primary]);
    }
  }, 120_000);
});

describe('serve: the readiness line', () => {
  /** The lines of a serve's output (stderr and the JSON log on stdout) that say it listens. */
  async function listeningLines(args: string[]): Promise<{ lines: string[]; port: number }> {
    const child = spawn(process.execPath, [HSMKMS_BIN, 'serve', ...common(), '--log-level', 'info', '--host', 'localhost', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(() => /hsmkms: listening on/.test(out), 60_000, 'serve to listen');
      const port = Number(/hsmkms: listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      expect(port).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      // Any further line would have come with the first (the worker logs, then tells its primary).
      await new Promise((r) => setTimeout(r, 500));
      return { lines: out.split('\n').filter((line) => /listening/i.test(line)), port };
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
    }
  }

  it.each([
    ['a primary and its worker', []],
    ['one process', ['--recycle-worker-after', 'off']],
  ])('--host localhost --port 0 (%s): "listening on" once, with the port given, and one log line', async (_, args) => {
    const { lines, port } = await listeningLines([...testTokenArgs(), ...args]);
    expect(lines.filter((line) => line.startsWith('hsmkms: listening on'))).toHaveLength(1);
    const logged = lines.filter((line) => line.startsWith('{'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!).addresses).toContain(`http://127.0.0.1:${port}`);
  }, 120_000);
});
