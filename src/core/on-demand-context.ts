/**
 * An async context that is switched on only while one of its `run`s is in progress.
 *
 * Why: on Node 20 an enabled `AsyncLocalStorage` — any one, once `run` — installs promise hooks
 * that run for every promise the process makes from then on (`promiseInitHook`, `_propagate`,
 * `trackPromise`: ~3% of an Encrypt's main-thread samples, more in its CPU per request). The
 * contexts kept here serve rare paths (a metadata transaction, the private CA's calls to its own
 * API), so they are enabled when such a path starts and disabled when the last one has ended,
 * and the request path makes its promises without hooks.
 *
 * `getStore()` inside `fn` and everything it awaits is the store given, as with
 * `AsyncLocalStorage`; outside any run it is undefined. Work that `fn` started without awaiting
 * it and that is still running after every run has ended sees undefined too.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export class OnDemandContext<T> {
  private readonly storage = new AsyncLocalStorage<T>();
  /** Runs in progress: the storage is enabled while this is above zero. */
  private running = 0;

  run<R>(store: T, fn: () => Promise<R>): Promise<R> {
    this.running++;
    let result: Promise<R>;
    try {
      result = this.storage.run(store, fn);
    } catch (error) {
      this.ended();
      throw error;
    }
    return result.finally(() => this.ended());
  }

  getStore(): T | undefined {
    return this.storage.getStore();
  }

  private ended(): void {
    // Disabling the last enabled AsyncLocalStorage of the process removes its promise hooks.
    if (--this.running === 0) this.storage.disable();
  }
}
