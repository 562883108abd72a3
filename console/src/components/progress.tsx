/**
 * Progress of a long operation, announced politely to screen readers: a determinate bar when
 * the steps are known ("2 of 3"), an indeterminate one otherwise.
 */
import type { ReactElement } from 'react';

export function Progress({ label, value, max }: { label: string; value?: number; max?: number }): ReactElement {
  return (
    <div className="progress" role="status" aria-live="polite">
      <progress max={max} value={value} aria-label={label} />
      <span>{label}</span>
    </div>
  );
}
