/**
 * `hsmkms serve --workers 2` when a worker keeps failing: the primary starts it again up to five
 * times a minute, then stops the server as SIGTERM would — the other worker finishes and closes
 * its audit chain (its lock file goes with it). Before, the primary exited alone, and a worker
 * whose channel to the primary closes exits at once: requests cut off, its lock left behind.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, children, freePort, serve, testTokenArgs, until } from '../support/cli.js';

let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hsmkms-worker-restarts-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The pids written in the audit directory's node locks. */
function lockHolders(): number[] {
  const dir = join(dataDir, 'audit');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.lock'))
    .map((name) => Number.parseInt(readFileSync(join(dir, name), 'utf8'), 10));
}

it('stops every worker gracefully once one keeps failing', async () => {
  const served = await serve(['--data-dir', dataDir, '--port', String(await freePort()), '--workers', '2', ...testTokenArgs(), '--log-level', 'warn']);
  const primary = served.child.pid!;
  const exited = new Promise<number | null>((resolve) => served.child.once('exit', (code) => resolve(code)));
  try {
    await until(() => children(primary).length === 2, 30_000, 'two workers');
    const [failing, survivor] = children(primary) as [number, number];
    await until(() => lockHolders().includes(survivor), 30_000, 'the second worker to hold its audit lock');
    // One worker killed six times within the minute: its slot is started again five times.
    let current = failing;
    for (let kill = 1; kill <= 6; kill++) {
      process.kill(current, 'SIGKILL');
      await until(() => !alive(current), 10_000, `worker ${current} to die`);
      if (kill === 6) break;
      await until(() => children(primary).some((pid) => pid !== survivor && pid !== current), 30_000, 'a new worker in the failing slot');
      current = children(primary).find((pid) => pid !== survivor && pid !== current)!;
    }
    expect(await exited).toBe(1);
    const survivorOutlivedPrimary = alive(survivor);
    await until(() => !alive(survivor), 10_000, 'the second worker to exit');
    expect(served.stderr()).toMatch(/6 workers exited within 60 s \(at most 5 are started again\).*; stopping/);
    // The survivor was stopped as by SIGTERM, before the primary exited: its chain closed, its lock gone.
    expect(lockHolders()).not.toContain(survivor);
    expect(survivorOutlivedPrimary).toBe(false);
  } finally {
    await served.stop();
  }
}, 300_000);
