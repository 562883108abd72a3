/** A part of a page read on its own: its progress, its refusal, or its content. */
import type { ReactElement, ReactNode } from 'react';
import { ErrorAlert } from './error-alert.js';
import { Progress } from './progress.js';
import type { Loaded } from './use-call.js';

export function Part<T>({ loaded, what, children }: { loaded: Loaded<T>; what: string; children: (data: T) => ReactNode }): ReactElement {
  if (loaded.status === 'loading') return <Progress label={`Loading ${what}…`} />;
  if (loaded.status === 'error') return <ErrorAlert error={loaded.error} context={`The ${what} could not be read.`} />;
  return <>{children(loaded.data)}</>;
}

