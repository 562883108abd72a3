/**
 * Every API call has a deadline: an absolute time after which its caller gets
 * DependencyTimeoutException, whatever it is still waiting for (the store, the HSM, a custom
 * key store). The HTTP route sets it when the request arrives and bounds authentication by
 * it; the dispatcher bounds the operation by what remains (core/dispatch.ts).
 */
import { KmsError } from './errors.js';

/** How long one API call may take by default (`serve --request-deadline`). */
export const DEFAULT_REQUEST_DEADLINE_MS = 30_000;

/** The error a caller gets when the deadline passes. */
export function deadlineExceeded(deadlineMs: number): KmsError {
  return new KmsError('DependencyTimeoutException', `The request did not complete within ${deadlineMs / 1000} s. Try again later.`);
}

/**
 * `work`, or `expired()` thrown once `deadline` (epoch ms) has passed. Work still running then
 * is not stopped (it may yet take effect, as after any timeout); `late` hears if it finishes.
 *
 * An answer that arrived while the event loop was busy elsewhere is not a timeout: when the timer
 * fires, the loop's poll phase (which reads that answer) runs once more before the deadline is
 * declared passed (setImmediate runs after it).
 */
export function withDeadline<T>(work: Promise<T>, deadline: number, expired: () => Error, late?: () => void): Promise<T> {
  // One promise and two reactions: Promise.race plus finally cost three more promises per call.
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          work.then(late, () => undefined);
          reject(expired());
        }),
      Math.max(0, deadline - Date.now()),
    );
    work.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
