/**
 * Long reads of the audit trail (search, verify) written once, as generators that yield between
 * pieces of work, and run two ways: to the end at once (the CLI, offline), or a few milliseconds
 * per turn of the event loop (the server's `HsmKms.LookupAuditEvents` and `VerifyAuditTrail`), so
 * that reading a large trail never stalls the requests around it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Work cut into steps: `yield` between pieces, `return` the result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs every step now. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** How long the async runner works before it lets the event loop run. */
const SLICE_MS = 8;

/**
 * Runs the steps, giving the event loop a turn every few milliseconds; past `deadline` (epoch ms)
 * it stops and throws `onDeadline()`.
 */
export async function runStepsAsync<T>(steps: Steps<T>, options: { deadline?: number | undefined; onDeadline?: () => Error } = {}): Promise<T> {
  let sliceStart = Date.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    const now = Date.now();
    if (options.deadline !== undefined && now >= options.deadline) {
      steps.return(undefined as T);
      throw options.onDeadline?.() ?? new Error('the audit trail read ran out of time');
    }
    if (now - sliceStart >= SLICE_MS) {
      await nextTurn();
      sliceStart = Date.now();
    }
  }
}
