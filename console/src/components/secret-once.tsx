/**
 * A new access key's secret, shown once: the service never shows it again, and the console
 * forgets it as soon as this dialog closes.
 */
import { useState, type ReactElement } from 'react';
import { Dialog } from './dialog.js';

/** A read-only value with a Copy button. */
export function CopyField({ label, value, id }: { label: string; value: string; id: string }): ReactElement {
  const [copied, setCopied] = useState(false);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="input-row">
        <input id={id} readOnly value={value} className="mono" onFocus={(e) => e.currentTarget.select()} />
        <button
          type="button"
          onClick={() =>
            navigator.clipboard?.writeText(value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  );
}

export function SecretOnce({ title, arn, accessKeyId, secretAccessKey, onClose }: { title: string; arn?: string; accessKeyId: string; secretAccessKey: string; onClose: () => void }): ReactElement {
  return (
    <Dialog title={title} onClose={onClose}>
      <div className="alert alert-warning" role="alert">
        Store the secret access key now. This is the only time it is shown: hsmkms keeps it sealed by the HSM and never displays it again.
      </div>
      {arn ? <CopyField id="secret-arn" label="Principal ARN" value={arn} /> : null}
      <CopyField id="secret-access-key-id" label="Access key ID" value={accessKeyId} />
      <CopyField id="secret-access-key" label="Secret access key" value={secretAccessKey} />
      <div className="dialog-actions">
        <button type="button" className="button-primary" onClick={onClose}>
          I have stored the secret
        </button>
      </div>
    </Dialog>
  );
}
