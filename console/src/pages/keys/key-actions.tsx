/**
 * What can be done to a key's state, from the list or its own page: enable, disable, schedule
 * and cancel deletion — each confirmed where it can hurt, with progress, and the service's
 * answer (AccessDenied, quorum approval needed) shown where it was asked.
 */
import { useId, useState, type ReactElement } from 'react';
import { CancelKeyDeletionCommand, DisableKeyCommand, EnableKeyCommand, ScheduleKeyDeletionCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

type Pending = 'disable' | 'delete' | undefined;

export function KeyActions({ metadata, label, onChanged }: { metadata: KeyMetadata; label: string; onChanged: () => void }): ReactElement | null {
  const { kms } = useSession();
  const id = useId();
  const action = useAction();
  const [pending, setPending] = useState<Pending>();
  const [days, setDays] = useState(30);
  const [understood, setUnderstood] = useState(false);
  const [note, setNote] = useState<string>();
  const keyId = metadata.KeyId!;
  const state = metadata.KeyState;
  if (metadata.KeyManager === 'AWS') return null;

  const close = () => {
    setPending(undefined);
    setUnderstood(false);
    action.clear();
  };
  const act = async (work: () => Promise<unknown>, done: string) => {
    setNote(undefined);
    const result = await action.run(async () => {
      await work();
      return true;
    });
    if (result) {
      setPending(undefined);
      setUnderstood(false);
      setNote(done);
      onChanged();
    }
  };

  return (
    <div className="key-actions">
      <div className="button-row">
        {state === 'Disabled' ? (
          <button type="button" className="button-small" aria-label={`Enable ${label}`} disabled={action.busy} onClick={() => act(() => kms.send(new EnableKeyCommand({ KeyId: keyId })), `${label} is enabled.`)}>
            Enable
          </button>
        ) : null}
        {state === 'Enabled' ? (
          <button type="button" className="button-small" aria-label={`Disable ${label}`} disabled={action.busy} onClick={() => { action.clear(); setPending('disable'); }}>
            Disable
          </button>
        ) : null}
        {state === 'PendingDeletion' ? (
          <button
            type="button"
            className="button-small"
            aria-label={`Cancel deletion of ${label}`}
            disabled={action.busy}
            onClick={() => act(() => kms.send(new CancelKeyDeletionCommand({ KeyId: keyId })), `Deletion of ${label} is cancelled; the key is Disabled until you enable it.`)}
          >
            Cancel deletion
          </button>
        ) : null}
        {state === 'Enabled' || state === 'Disabled' || state === 'PendingImport' ? (
          <button type="button" className="button-small button-danger-quiet" aria-label={`Schedule deletion of ${label}`} disabled={action.busy} onClick={() => { action.clear(); setPending('delete'); }}>
            Schedule deletion…
          </button>
        ) : null}
      </div>
      {pending === undefined && action.busy ? <Progress label="Working…" /> : null}
      {pending === undefined ? <ErrorAlert error={action.error} /> : null}
      {note ? (
        <p className="status-ok" role="status">
          {note}
        </p>
      ) : null}
      {state === 'PendingDeletion' && metadata.DeletionDate ? (
        <p className="muted">
          Deleted on <DateTime value={metadata.DeletionDate} withRelative />
        </p>
      ) : null}

      {pending === 'disable' ? (
        <ConfirmDialog
          title={`Disable ${label}?`}
          confirmLabel="Disable key"
          busyLabel="Disabling the key…"
          busy={action.busy}
          error={action.error}
          danger
          onClose={close}
          onConfirm={() => act(() => kms.send(new DisableKeyCommand({ KeyId: keyId })), `${label} is disabled.`)}
        >
          <p>Every call that uses this key fails until it is enabled again. Nothing is deleted.</p>
        </ConfirmDialog>
      ) : null}
      {pending === 'delete' ? (
        <ConfirmDialog
          title={`Schedule deletion of ${label}?`}
          confirmLabel="Schedule deletion"
          busyLabel="Scheduling the deletion…"
          busy={action.busy}
          error={action.error}
          danger
          ready={understood && days >= 7 && days <= 30}
          onClose={close}
          onConfirm={() =>
            act(() => kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: days })), `${label} is scheduled for deletion in ${days} days.`)
          }
        >
          <p>
            After the waiting period the key material is destroyed in the HSM, and everything encrypted under this key can never be decrypted again.
            Until then the key cannot be used, and the deletion can be cancelled.
          </p>
          <div className="field">
            <label htmlFor={`${id}-days`}>Waiting period (7–30 days)</label>
            <input id={`${id}-days`} type="number" min={7} max={30} required value={days} onChange={(e) => setDays(Number(e.target.value))} />
          </div>
          <div className="field field-check">
            <input id={`${id}-understood`} type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} />
            <label htmlFor={`${id}-understood`}>I understand that data encrypted under this key will be lost after {days} days.</label>
          </div>
        </ConfirmDialog>
      ) : null}
    </div>
  );
}
