/**
 * `hsmkms serve`: a worker started again after a crash that then hangs while starting (here in
 * `C_Login`, held by the PKCS#11 interposer in front of the run's SoftHSM2 token) is bounded as a
 * replacement is: killed after 50 s, saying so, its exit counted towards the restart limit, and
 * the slot started again. Before, only replacements had a bound: the slot stayed empty for ever.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, children, freePort, serve, until } from '../support/cli.js';
import { INTERPOSED_ENV, interposedTokenArgs, interposerControl, type InterposerControl } from '../support/interposer.js';

let dataDir: string;
let control: InterposerControl;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-restart-hang-'));
  control = interposerControl();
});
afterAll(() => {
  control.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

it('kills a restarted worker that does not listen within 50 s, counts it as an exit, and starts the slot again', async () => {
  const port = await freePort();
  // The softhsm2 profile recycles: one worker under a primary.
  const served = await serve(['--data-dir', dataDir, '--port', String(port), ...interposedTokenArgs(), '--log-level', 'warn'], INTERPOSED_ENV);
  const primary = served.child.pid!;
  const pids: number[] = [];
  try {
    await until(() => children(primary).length === 1, 10_000, 'one worker under the primary');
    pids.push(children(primary)[0]!);
    // The next process's first C_Login blocks until the control file changes again.
    control.set(['hang=C_Login']);
    process.kill(pids[0]!, 'SIGKILL');
    await until(() => /worker 0 \(pid \d+, started again\) did not listen within 50 s; stopping it/.test(served.stderr()), 120_000, `the hung worker to be stopped:\n${served.stderr()}`);
    const hung = Number(/worker 0 \(pid (\d+), started again\)/.exec(served.stderr())![1]);
    pids.push(hung);
    control.set([]);
    await until(() => !alive(hung), 10_000, `pid ${hung} to be killed`);
    await until(() => /restart 2 of at most 5/.test(served.stderr()), 10_000, 'its exit counted as a restart');
    expect(served.stderr()).toMatch(/worker 0 exited \(SIGKILL\); starting it again in 1 s \(restart 2 of at most 5 within 60 s\)/);
    await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 60_000, `the slot to serve again:\n${served.stderr()}`);
    pids.push(...children(primary));
    expect(await served.stop()).toBe(0);
  } finally {
    control.set([]);
    for (const pid of [...pids, primary]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}, 240_000);
