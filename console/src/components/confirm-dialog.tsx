/** A yes/no question before an action that changes something, with the action's progress and failure. */
import type { ReactElement, ReactNode } from 'react';
import type { ApiFailure } from '../api/errors.js';
import { Dialog } from './dialog.js';
import { ErrorAlert } from './error-alert.js';
import { Progress } from './progress.js';

export interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Shown while the action runs. */
  busyLabel: string;
  busy: boolean;
  error: ApiFailure | undefined;
  danger?: boolean;
  /** False keeps the confirm button disabled (e.g. until a box is ticked). */
  ready?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}

export function ConfirmDialog(props: ConfirmDialogProps): ReactElement {
  const { title, children, confirmLabel, busyLabel, busy, error, danger, ready = true, onConfirm, onClose } = props;
  return (
    <Dialog title={title} onClose={onClose} busy={busy}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (ready && !busy) onConfirm();
        }}
      >
        {children}
        <ErrorAlert error={error} />
        {busy ? <Progress label={busyLabel} /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className={danger ? 'button-danger' : 'button-primary'} disabled={busy || !ready}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
