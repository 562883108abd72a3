/**
 * `hsmkms serve` with the softhsm2 profile's default `--recycle-worker-after` and `--workers 1`:
 * SoftHSM2 keeps a remnant of every object destroyed in it until the process exits, so even the
 * default runs its one worker under a small primary that can replace it (memory bounded whatever
 * the input). The worker never outlives the primary: SIGTERM stops both, and after `kill -9` of the
 * primary nothing serves on the port. `--recycle-worker-after off` is one process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, children, freePort, HSMKMS_BIN, serve, testTokenArgs, until, type Served } from '../support/cli.js';

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-default-recycling-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const start = (...extra: string[]) => serve(['--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--log-level', 'warn', ...extra]);

/** Whether a process has a SIGHUP handler (bit 1 of SigCgt in /proc/<pid>/status). */
function catchesSighup(pid: number): boolean {
  try {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
  } catch {
    return false;
  }
}
/** Whether something accepts connections at the endpoint's port. */
function accepts(endpoint: string): Promise<boolean> {
  const { hostname, port } = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
/** The one worker under the spawned primary, once it serves. */
async function soleWorker(served: Served): Promise<number> {
  const primary = served.child.pid!;
  await until(() => children(primary).length === 1, 5_000, 'one worker under the primary');
  const [worker] = children(primary);
  return worker!;
}

describe('serve --workers 1 with the default --recycle-worker-after', () => {
  it('runs one worker under a primary, and SIGTERM stops both with status 0', async () => {
    const served = await start();
    let worker = 0;
    try {
      expect(served.stderr()).toMatch(/listening on http:\/\/\S+ \(1 worker, each replaced after 1000000 token objects,/);
      expect(served.stderr()).toContain('root credentials');
      worker = await soleWorker(served);
      expect(worker).not.toBe(served.child.pid);
      expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    expect(alive(worker)).toBe(false);
    expect(await accepts(served.endpoint)).toBe(false);
  }, 120_000);

  it('starts the worker again when it alone is sent SIGTERM, and serves on', async () => {
    // A fixed port: with --port 0 a lone worker started again would listen on a new random one.
    const port = await freePort();
    const served = await serve(['--data-dir', dataDir, '--port', String(port), ...testTokenArgs(), '--log-level', 'warn']);
    try {
      const first = await soleWorker(served);
      process.kill(first, 'SIGTERM');
      await until(() => !alive(first), 30_000, `worker ${first} stops`);
      await until(() => children(served.child.pid!).some((pid) => pid !== first), 30_000, 'a new worker under the primary');
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 60_000, 'the new worker to serve');
      expect(served.child.exitCode).toBeNull();
      expect(served.stderr()).toMatch(/worker 0 exited \(0\); starting it again/);
      expect(served.stderr()).not.toMatch(/log output closed/);
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 180_000);

  it('kill -9 of the primary leaves no worker serving on the port', async () => {
    const served = await start();
    const worker = await soleWorker(served);
    expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
    // A keep-alive connection to the worker, open when the primary dies.
    const open = connect(Number(new URL(served.endpoint).port), '127.0.0.1');
    await new Promise((resolve) => open.once('connect', resolve));
    const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
    open.on('error', () => undefined);
    served.child.kill('SIGKILL');
    await until(() => !alive(worker), 5_000, `worker ${worker} exits after its primary was killed`);
    expect(await accepts(served.endpoint)).toBe(false);
    await closed;
  }, 120_000);
});

describe('serve --workers 1, recycled: SIGHUP while the worker starts', () => {
  it('neither kills the starting worker nor is lost: the reload runs once it has started', async () => {
    const child = spawn(process.execPath, [HSMKMS_BIN, 'serve', '--data-dir', dataDir, '--port', '0', ...testTokenArgs(), '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Once the primary has forked its worker and catches SIGHUP itself; the worker still loads then.
      await until(() => children(child.pid!).length === 1 && catchesSighup(child.pid!), 20_000, 'the worker to be forked');
      expect(err).not.toMatch(/listening on/);
      child.kill('SIGHUP');
      await until(() => /listening on/.test(err) || child.exitCode !== null || child.signalCode !== null, 60_000, 'serve to listen or exit');
      expect(err).not.toMatch(/could not start/);
      expect(err).toMatch(/listening on http:\/\/\S+ \(1 worker/);
      await until(() => /worker 0: SIGHUP: XKS policies reloaded/.test(err), 10_000, "the early SIGHUP's reload");
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    expect(await exited).toBe(0);
  }, 120_000);
});

describe('serve --recycle-worker-after off', () => {
  it('is one process, whose pid is the server', async () => {
    const served = await start('--recycle-worker-after', 'off');
    try {
      expect(served.stderr()).toMatch(/listening on http:\/\/\S+ \(account /);
      expect((await fetch(`${served.endpoint}/health`)).status).toBe(200);
      expect(children(served.child.pid!)).toEqual([]);
    } finally {
      expect(await served.stop()).toBe(0);
    }
  }, 120_000);
});
