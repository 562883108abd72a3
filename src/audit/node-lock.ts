/**
 * One writer per node: a `<nodeId>.lock` file in the audit directory holding the writer's pid keeps
 * a second process from appending to the same chain (which would fork it).
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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
 */
export function lockNode(dir: string, nodeId: string): () => void {
  const path = join(dir, lockFileName(nodeId));
  if (heldLocks.has(path)) throw new NodeInUseError(`audit node '${nodeId}' is already open in this process (${path})`);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
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
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder))
        throw new NodeInUseError(
          `audit node '${nodeId}' is in use by process ${holder} (${path}); give each server on this data directory its own --audit-node-id`,
        );
      unlinkSync(path);
    }
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
