/**
 * One writer per node: a `<nodeId>.lock` file in the audit directory holding the writer's pid keeps
 * a second process from appending to the same chain (which would fork it).
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { lockFileName } from './audit-files.js';

/** Lock files this process holds: the process-wide fact that a pid alone cannot tell (our own pid may be in a stale lock). */
const heldLocks = new Set<string>();

/** The node's chain is being written by another live process. */
export class NodeInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeInUseError';
  }
}

/**
 * Takes the lock of the first of `nodeIds` no other live process holds (for short-lived
 * processes that may run side by side, such as `hsmkms ca`: a few chains, reused, instead of one
 * per run). Throws the last {@link NodeInUseError} when every one is taken.
 */
export function lockFirstFreeNode(dir: string, nodeIds: readonly string[]): { nodeId: string; release: () => void } {
  let busy: NodeInUseError | undefined;
  for (const nodeId of nodeIds) {
    try {
      return { nodeId, release: lockNode(dir, nodeId) };
    } catch (error) {
      if (!(error instanceof NodeInUseError)) throw error;
      busy = error;
    }
  }
  throw busy ?? new Error('no audit node id given');
}

/**
 * Takes `<nodeId>.lock` for this process. A lock whose process is gone (a crash, or our own pid
 * from a previous life, as in a restarted container) is taken over; one held by another live
 * process, or already by this one, means a second writer on the same chain: refuse.
 *
 * A lock is only ever made with O_EXCL, and a stale one is only removed under the takeover guard
 * (`<nodeId>.lock.takeover`, also O_EXCL) after reading it again there: several processes that
 * find the same stale lock at once would otherwise each remove it — the second removing the
 * lock the first had just made — and all write the chain, forking it.
 */
export function lockNode(dir: string, nodeId: string): () => void {
  const path = join(dir, lockFileName(nodeId));
  if (heldLocks.has(path)) throw new NodeInUseError(`audit node '${nodeId}' is already open in this process (${path})`);
  // Each round either takes the lock, refuses, or removes a stale one; the bound only stops a loop
  // that something outside hsmkms keeps feeding with stale locks.
  for (let attempt = 0; attempt < 100; attempt++) {
    if (createLockFile(path)) {
      heldLocks.add(path);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldLocks.delete(path);
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    }
    const holder = lockHolder(path);
    if (holder === 'absent') continue;
    if (holder !== 'stale')
      throw new NodeInUseError(
        `audit node '${nodeId}' is in use by ${typeof holder === 'number' ? `process ${holder}` : holder} (${path}); give each server on this data directory its own --audit-node-id`,
      );
    withTakeoverGuard(path, nodeId, () => {
      // Read again under the guard: another process may have taken the lock over meanwhile.
      if (lockHolder(path) !== 'stale') return;
      try {
        unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    });
  }
  throw new NodeInUseError(`audit node '${nodeId}': its lock ${path} kept changing; try again`);
}

/** Creates the lock file holding our pid; false if one exists. */
function createLockFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** A lock file younger than this without its pid is being made (created, not yet written). */
const LOCK_WRITE_MS = 2000;

/**
 * Who holds the lock file at `path`: `absent` (no file), `stale` (its process is gone, or is this
 * one from a previous life), or the live process (a file without a complete pid counts as held
 * while it is young — its maker is between create and write — and as stale after).
 */
function lockHolder(path: string): 'absent' | 'stale' | number | string {
  let text: string;
  let age: number;
  try {
    text = readFileSync(path, 'utf8');
    age = Date.now() - statSync(path).mtimeMs;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  if (!text.endsWith('\n')) return age < LOCK_WRITE_MS ? 'a process that is making it' : 'stale';
  const holder = Number.parseInt(text, 10);
  return Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder) ? holder : 'stale';
}

/** How long to wait for another process's takeover of the same lock (a read and an unlink). */
const TAKEOVER_WAIT_MS = 2 * LOCK_WRITE_MS;

/**
 * Runs `fn` holding `<lock>.takeover`. A guard left by a process that died in the middle of a
 * takeover is removed; one held by a live process is waited for (it holds it for microseconds).
 */
function withTakeoverGuard(path: string, nodeId: string, fn: () => void): void {
  const guard = `${path}.takeover`;
  const until = Date.now() + TAKEOVER_WAIT_MS;
  while (!createLockFile(guard)) {
    if (Date.now() > until) throw new NodeInUseError(`audit node '${nodeId}': another process has been taking its lock over for ${TAKEOVER_WAIT_MS} ms (${guard})`);
    const holder = lockHolder(guard);
    if (holder === 'absent') continue;
    if (holder === 'stale') {
      // A process died in the middle of a takeover (the one case this guard cannot order).
      try {
        unlinkSync(guard);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    } else {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
  try {
    fn();
  } finally {
    unlinkSync(guard);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
