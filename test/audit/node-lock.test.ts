/**
 * The node lock between processes: several processes that find the same stale lock at once
 * (`hsmkms ca` or offline CLI commands started together after one was killed) — exactly one takes
 * the chain. Before, each removed the stale lock, the later ones removing the lock the first had
 * just made, and two or three wrote one chain (in 8 of 20 rounds), forking it. Uses the built module
 * (`npm run build`): the contenders are separate processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { lockNode, NodeInUseError } from '../../src/audit/node-lock.js';

const MODULE = pathToFileURL(resolve('dist/audit/node-lock.js')).href;
const root = mkdtempSync(join(tmpdir(), 'hsmkms-node-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A pid that no process has now. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((done) => child.once('exit', done));
  return child.pid!;
}

/**
 * Processes that each, once all have loaded and been told to go at once, try to lock the node in
 * `dir`; each says `took` or `busy` and holds what it took until all have spoken (so a late one
 * finds the winner alive).
 */
async function contend(dir: string, count: number): Promise<string[]> {
  const script = `
    import { readSync } from 'node:fs';
    const { lockNode } = await import(${JSON.stringify(MODULE)});
    process.stdout.write('ready;');
    readSync(0, Buffer.alloc(1));
    let said;
    try { lockNode(${JSON.stringify(dir)}, 'host-ca0'); said = 'took'; } catch (e) { said = e.name === 'NodeInUseError' ? 'busy' : 'error ' + e.message; }
    process.stdout.write(said);
    setInterval(() => {}, 1000);`;
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const outputs = children.map(() => '');
  const changed = new Set<() => void>();
  const failed = new Promise<never>((_, fail) =>
    children.forEach((child, i) => {
      child.stdout.on('data', (d: Buffer) => {
        outputs[i] += d.toString();
        for (const check of changed) check();
      });
      child.once('error', fail);
      child.once('exit', (code) => fail(new Error(`a contender exited (${code}): ${outputs[i]}`)));
    }),
  );
  // Killed at the end, they exit: that is no failure any more.
  failed.catch(() => undefined);
  const saying = (predicate: (out: string) => boolean) =>
    Promise.race([
      failed,
      new Promise<void>((done) => {
        const check = () => outputs.every(predicate) && (changed.delete(check), done());
        changed.add(check);
        check();
      }),
    ]);
  try {
    await saying((out) => out.startsWith('ready;'));
    for (const child of children) child.stdin.write('g');
    await saying((out) => out.length > 'ready;'.length);
    return outputs.map((out) => out.slice('ready;'.length));
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}

describe('audit node lock', () => {
  it('lets exactly one of several processes take over the same stale lock', async () => {
    for (let round = 0; round < 10; round++) {
      const dir = mkdtempSync(join(root, 'race-'));
      writeFileSync(join(dir, 'host-ca0.lock'), `${await deadPid()}\n`);
      const said = await contend(dir, 6);
      expect(said.sort(), `round ${round}`).toEqual(['busy', 'busy', 'busy', 'busy', 'busy', 'took']);
    }
  }, 120_000);

  it('counts a lock without its pid as being made while young, and as stale once old', () => {
    const dir = mkdtempSync(join(root, 'empty-'));
    const path = join(dir, 'host-w0.lock');
    writeFileSync(path, '');
    expect(() => lockNode(dir, 'host-w0')).toThrow(NodeInUseError);
    expect(() => lockNode(dir, 'host-w0')).toThrow(/in use by a process that is making it/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    const release = lockNode(dir, 'host-w0');
    release();
  });
});
