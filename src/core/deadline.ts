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
 */
export function withDeadline<T>(work: Promise<T>, deadline: number, expired: () => Error, late?: () => void): Promise<T> {
  // One promise and two reactions: Promise.race plus finally cost three more promises per call.
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      work.then(late, () => undefined);
      reject(expired());
    }, Math.max(0, deadline - Date.now()));
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
