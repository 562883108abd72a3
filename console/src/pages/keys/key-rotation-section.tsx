/**
 * A key's rotation: automatic rotation on or off (with its period), rotating now on demand
 * (RotateKeyOnDemand, confirmed), and the rotations so far.
 */
import { useId, useState, type ReactElement } from 'react';
import {
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Part } from '../../components/loaded-part.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { rotatable } from './key-data.js';

/** AWS's bounds on RotationPeriodInDays, and its default. */
const PERIOD_MIN = 90;
const PERIOD_MAX = 2560;
const PERIOD_DEFAULT = 365;

function RotationControls({ keyId, manage, metadata }: { keyId: string; manage: boolean; metadata: KeyMetadata }): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const toggle = useAction();
  const rotate = useAction();
  const [period, setPeriod] = useState(String(PERIOD_DEFAULT));
  const [confirming, setConfirming] = useState(false);
  const [note, setNote] = useState<string>();
  const status = useLoad(() => kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId })), [kms, keyId]);
  const history = useLoad(async () => (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, Limit: 100 }))).Rotations ?? [], [kms, keyId]);
  const days = Number(period);
  const periodOk = Number.isInteger(days) && days >= PERIOD_MIN && days <= PERIOD_MAX;
  const enabled = metadata.KeyState === 'Enabled';

  const setAutomatic = async (on: boolean) => {
    setNote(undefined);
    const done = await toggle.run(() =>
      kms.send(on ? new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: days }) : new DisableKeyRotationCommand({ KeyId: keyId })),
    );
    if (done) {
      setNote(on ? `Automatic rotation is on, every ${days} days.` : 'Automatic rotation is off.');
      status.reload();
    }
  };
  const rotateNow = async () => {
    const done = await rotate.run(() => kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId })));
    if (done) {
      setConfirming(false);
      setNote('The key has new key material in the HSM: new encryptions use it, and older ciphertexts still decrypt.');
      status.reload();
      history.reload();
    }
  };

  return (
    <>
      <Part loaded={status} what="rotation status">
        {(s) => (
          <div className="rotation">
            <p>
              Automatic rotation is <strong>{s.KeyRotationEnabled ? 'on' : 'off'}</strong>
              {s.KeyRotationEnabled && s.RotationPeriodInDays ? `, every ${s.RotationPeriodInDays} days` : ''}
              {s.NextRotationDate ? (
                <>
                  ; next rotation <DateTime value={s.NextRotationDate} withRelative />
                </>
              ) : null}
              {s.OnDemandRotationStartDate ? (
                <>
                  ; an on-demand rotation started <DateTime value={s.OnDemandRotationStartDate} withRelative />
                </>
              ) : null}
              .
            </p>
            {manage ? (
              <div className="button-row">
                {s.KeyRotationEnabled ? (
                  <button type="button" className="button-small" disabled={toggle.busy} onClick={() => void setAutomatic(false)}>
                    Turn automatic rotation off
                  </button>
                ) : (
                  <>
                    <label htmlFor={`${id}-period`}>Every</label>
                    <input
                      id={`${id}-period`}
                      className="input-narrow"
                      type="number"
                      min={PERIOD_MIN}
                      max={PERIOD_MAX}
                      value={period}
                      onChange={(e) => setPeriod(e.target.value)}
                      aria-invalid={!periodOk}
                      aria-describedby={`${id}-period-hint`}
                    />
                    <span id={`${id}-period-hint`}>
                      days ({PERIOD_MIN}–{PERIOD_MAX})
                    </span>
                    <button type="button" className="button-small" disabled={toggle.busy || !periodOk} onClick={() => void setAutomatic(true)}>
                      Turn automatic rotation on
                    </button>
                  </>
                )}
                <button
                  type="button"
                  className="button-small"
                  disabled={rotate.busy || !enabled}
                  title={enabled ? undefined : 'Only an Enabled key can be rotated.'}
                  onClick={() => {
                    rotate.clear();
                    setConfirming(true);
                  }}
                >
                  Rotate now…
                </button>
              </div>
            ) : null}
            {toggle.busy ? <Progress label="Updating rotation…" /> : null}
            <ErrorAlert error={toggle.error} />
            {note ? (
              <p className="status-ok" role="status">
                {note}
              </p>
            ) : null}
          </div>
        )}
      </Part>
      <Part loaded={history} what="rotations">
        {(rotations) =>
          rotations.length === 0 ? (
            <p className="muted">The key has not been rotated yet.</p>
          ) : (
            <table className="table" aria-label="Rotations">
              <thead>
                <tr>
                  <th scope="col">Rotated</th>
                  <th scope="col">Type</th>
                  <th scope="col">Key material</th>
                </tr>
              </thead>
              <tbody>
                {rotations.map((r, i) => (
                  <tr key={`${r.KeyMaterialId ?? i}`}>
                    <td>
                      <DateTime value={r.RotationDate} />
                    </td>
                    <td>{r.RotationType}</td>
                    <td className="mono small">{r.KeyMaterialId ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Part>
      {confirming ? (
        <ConfirmDialog
          title="Rotate the key now?"
          confirmLabel="Rotate now"
          busyLabel="Generating new key material in the HSM…"
          busy={rotate.busy}
          error={rotate.error}
          onClose={() => setConfirming(false)}
          onConfirm={() => void rotateNow()}
        >
          <p>
            The HSM generates new key material for this key. New encryptions use it; everything encrypted before still decrypts with the older
            material, which is kept. The key id, aliases and policy stay the same. AWS allows a limited number of on-demand rotations per key.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export function KeyRotationSection({ keyId, manage, metadata }: { keyId: string; manage: boolean; metadata: KeyMetadata | undefined }): ReactElement {
  return (
    <Section id="rotation" title="Rotation">
      {!metadata ? null : rotatable(metadata) ? (
        <RotationControls keyId={keyId} manage={manage} metadata={metadata} />
      ) : (
        <p className="muted">Rotation applies to symmetric encryption keys whose material the HSM generated.</p>
      )}
    </Section>
  );
}
