/**
 * Loading and acting, the two ways a page calls the service: {@link useLoad} fetches on mount
 * (and when its inputs change) and can be reloaded; {@link useAction} runs one operation at a
 * time on request. Both keep the failure as an {@link ApiFailure} to show.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { toFailure, type ApiFailure } from '../api/errors.js';

export type Loaded<T> =
  | { status: 'loading'; data?: undefined; error?: undefined }
  | { status: 'done'; data: T; error?: undefined }
  | { status: 'error'; data?: undefined; error: ApiFailure };

export function useLoad<T>(load: () => Promise<T>, inputs: readonly unknown[]): Loaded<T> & { reload(): void } {
  const [state, setState] = useState<Loaded<T>>({ status: 'loading' });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setState((previous) => (previous.status === 'done' ? previous : { status: 'loading' }));
    load().then(
      (data) => current && setState({ status: 'done', data }),
      (error: unknown) => current && setState({ status: 'error', error: toFailure(error) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `inputs` are the dependencies.
  }, [...inputs, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}

export interface Action {
  busy: boolean;
  error: ApiFailure | undefined;
  /** Runs `work` unless another run is in flight; resolves to its result, or undefined when it failed. */
  run<T>(work: () => Promise<T>): Promise<T | undefined>;
  clear(): void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiFailure | undefined>();
  const inFlight = useRef(false);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const run = useCallback(async <T,>(work: () => Promise<T>): Promise<T | undefined> => {
    if (inFlight.current) return undefined;
    inFlight.current = true;
    setBusy(true);
    setError(undefined);
    try {
      return await work();
    } catch (thrown) {
      if (mounted.current) setError(toFailure(thrown));
      return undefined;
    } finally {
      inFlight.current = false;
      if (mounted.current) setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(undefined), []);
  return { busy, error, run, clear };
}

/** Runs `work` over `items` with at most `limit` calls in flight, reporting each completion. */
export async function mapLimited<I, O>(items: readonly I[], limit: number, work: (item: I) => Promise<O>, onDone?: (done: number) => void): Promise<O[]> {
  const out = new Array<O>(items.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      out[index] = await work(items[index]!);
      onDone?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
