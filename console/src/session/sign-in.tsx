/**
 * Sign-in: an access key id and secret (a principal's own, as `hsmkms principal create` or a
 * CryptoOfficer issued them), checked by one signed call. Nothing typed here is stored anywhere
 * but in the signed clients' memory.
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { createClients } from '../api/clients.js';
import { ErrorAlert } from '../components/error-alert.js';
import { Progress } from '../components/progress.js';
import { useAction } from '../components/use-call.js';
import { IDLE_MINUTES_DEFAULT, IDLE_MINUTES_MAX, IDLE_MINUTES_MIN, idleMinutesProblem } from './idle.js';
import type { Session } from './session.js';

/** The region hsmkms serve signs for, from the page it served (see src/http/console-route.ts). */
export function serverRegion(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="hsmkms-region"]')?.content || 'us-east-1';
}

export function SignIn({ onSignedIn, notice }: { onSignedIn: (session: Session, destroy: () => void) => void; notice?: string | undefined }): ReactElement {
  const id = useId();
  const [idleMinutes, setIdleMinutes] = useState(String(IDLE_MINUTES_DEFAULT));
  const idleProblem = idleMinutesProblem(idleMinutes);
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secretAccessKey, setSecretAccessKey] = useState('');
  const [region, setRegion] = useState(serverRegion);
  const action = useAction();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (idleProblem) return;
    const clients = createClients(region.trim(), { accessKeyId: accessKeyId.trim(), secretAccessKey });
    const identity = await action.run(() => clients.hsmkms.call('GetCallerIdentity', {}));
    if (!identity) {
      clients.destroy();
      return;
    }
    setSecretAccessKey('');
    onSignedIn(
      {
        identity,
        region: region.trim(),
        partition: identity.Arn.split(':')[1] ?? 'aws',
        kms: clients.kms,
        hsmkms: clients.hsmkms,
        idleMinutes: Number(idleMinutes),
      },
      clients.destroy,
    );
  };

  return (
    <main id="main" className="sign-in" tabIndex={-1}>
      <h1>hsmkms console</h1>
      <p>
        Sign in with a principal’s access key. Every call is signed in this tab with AWS Signature Version 4, so the console can do exactly what
        those credentials may do and nothing more. The credentials stay in this tab’s memory until you sign out or close it.
      </p>
      {notice ? (
        <div className="alert alert-warning" role="status">
          {notice}
        </div>
      ) : null}
      {window.isSecureContext ? null : (
        <div className="alert alert-warning" role="note">
          This page was not served over HTTPS. Requests are signed, but answers (data keys, key policies) cross the network in clear: put{' '}
          <code>hsmkms tls proxy</code> in front of hsmkms to use the console from another machine.
        </div>
      )}
      <form onSubmit={submit} className="form" aria-describedby={`${id}-note`}>
        <div className="field">
          <label htmlFor={`${id}-akid`}>Access key ID</label>
          <input
            id={`${id}-akid`}
            name="accessKeyId"
            required
            autoComplete="off"
            spellCheck={false}
            autoCapitalize="off"
            className="mono"
            value={accessKeyId}
            onChange={(e) => setAccessKeyId(e.target.value)}
            autoFocus
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-secret`}>Secret access key</label>
          <input
            id={`${id}-secret`}
            name="secretAccessKey"
            type="password"
            required
            autoComplete="off"
            className="mono"
            value={secretAccessKey}
            onChange={(e) => setSecretAccessKey(e.target.value)}
          />
        </div>
        <details className="field">
          <summary>Region, endpoint and idle sign-out</summary>
          <div className="field">
            <label htmlFor={`${id}-region`}>Region</label>
            <input id={`${id}-region`} name="region" required value={region} onChange={(e) => setRegion(e.target.value)} />
          </div>
          <p className="muted">
            Endpoint: <code>{window.location.origin}</code> (the console talks only to the server it came from).
          </p>
          <div className="field">
            <label htmlFor={`${id}-idle`}>Sign out after this many minutes without activity</label>
            <input
              id={`${id}-idle`}
              name="idleMinutes"
              type="number"
              inputMode="numeric"
              min={IDLE_MINUTES_MIN}
              max={IDLE_MINUTES_MAX}
              required
              value={idleMinutes}
              onChange={(e) => setIdleMinutes(e.target.value)}
              aria-invalid={idleProblem !== undefined}
              aria-describedby={`${id}-idle-hint`}
            />
            <p id={`${id}-idle-hint`} className={idleProblem ? 'hint status-error' : 'hint'}>
              {idleProblem ?? `${IDLE_MINUTES_MIN}–${IDLE_MINUTES_MAX}; a minute before, the console asks whether you are still there.`}
            </p>
          </div>
        </details>
        <ErrorAlert error={action.error} context="Sign-in failed." />
        {action.busy ? <Progress label="Checking the credentials…" /> : null}
        <div className="button-row">
          <button type="submit" className="button-primary" disabled={action.busy || idleProblem !== undefined}>
            Sign in
          </button>
        </div>
        <p id={`${id}-note`} className="muted">
          No cookie, no local storage: reloading the page signs you out.
        </p>
      </form>
    </main>
  );
}
