/**
 * A bound on how many of one kind of costly work a process runs at once — an RSA key pair made in
 * the HSM (GetParametersForImport) or in software (GenerateDataKeyPair) — so that one caller's
 * burst of it cannot hold every HSM session or every libuv thread while other callers' requests
 * wait behind it. Beyond the bound the call is refused at once with ThrottlingException, which AWS
 * SDKs retry with backoff; nothing queues, so refused calls leave no work behind them.
 */
import { KmsError } from './errors.js';

/** Work in progress, per owner (the process's key backend) and kind. */
const running = new WeakMap<object, Map<string, number>>();

/**
 * Runs `work` unless `max` of `kind` run already for `owner`; then ThrottlingException saying
 * `what` (e.g. "GetParametersForImport calls are making their wrapping keys in the HSM").
 */
export async function withinInFlightLimit<T>(owner: object, kind: string, max: number, what: string, work: () => Promise<T>): Promise<T> {
  let counts = running.get(owner);
  if (!counts) running.set(owner, (counts = new Map()));
  const now = counts.get(kind) ?? 0;
  if (now >= max) throw new KmsError('ThrottlingException', `${now} ${what} on this node already, the most it runs at once; retry shortly.`);
  counts.set(kind, now + 1);
  try {
    return await work();
  } finally {
    counts.set(kind, (counts.get(kind) ?? 1) - 1);
  }
}
