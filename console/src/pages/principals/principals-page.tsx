/**
 * Principals: the account's users and their roles; CryptoOfficers (and the root) create them.
 * A new principal's secret access key is shown once.
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { Link } from 'react-router';
import type { PrincipalRole, PrincipalSummary } from '../../api/hsmkms-api.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { LoadMore } from '../../components/load-more.js';
import { Page } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { SecretOnce } from '../../components/secret-once.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { hasRole, useSession } from '../../session/session.js';
import { RolePicker, rulesProblem } from './roles.js';
import { checkRoles, checkUserName } from '../../../../src/core/admin/principal-names.js';

function CreatePrincipalDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (created: { Arn: string; AccessKeyId: string; SecretAccessKey: string }) => void }): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<PrincipalRole[]>(['CryptoUser']);
  const action = useAction();
  const nameProblem = name === '' ? undefined : rulesProblem(() => checkUserName(name));
  const nameOk = name !== '' && nameProblem === undefined;
  const rolesProblem = rulesProblem(() => checkRoles(roles));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const created = await action.run(() => hsmkms.call('CreatePrincipal', { UserName: name, Roles: roles }));
    if (created) onCreated(created);
  };
  return (
    <Dialog title="Create principal" onClose={onClose} busy={action.busy}>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor={`${id}-name`}>User name</label>
          <input
            id={`${id}-name`}
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={name !== '' && !nameOk}
            aria-describedby={`${id}-hint`}
            autoComplete="off"
            spellCheck={false}
            autoFocus
          />
          <p id={`${id}-hint`} className={nameProblem ? 'hint status-error' : 'hint'}>
            {nameProblem ?? '1–64 letters, digits and + = , . @ _ -'}
          </p>
        </div>
        <RolePicker legend="Roles" value={roles} onChange={setRoles} problem={rolesProblem} />
        <ErrorAlert error={action.error} context="The principal was not created." />
        {action.busy ? <Progress label="Creating the principal and its access key…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || !nameOk || roles.length === 0 || rolesProblem !== undefined}>
            Create principal
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export default function PrincipalsPage(): ReactElement {
  const { hsmkms, identity } = useSession();
  const [marker, setMarker] = useState<string>();
  const [pages, setPages] = useState<PrincipalSummary[][]>([]);
  const list = useLoad(async () => {
    const page = await hsmkms.call('ListPrincipals', { Limit: 100, ...(marker ? { Marker: marker } : {}) });
    setPages((previous) => (marker ? [...previous, page.Principals] : [page.Principals]));
    return page;
  }, [hsmkms, marker]);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ Arn: string; AccessKeyId: string; SecretAccessKey: string }>();
  const mayManage = hasRole(identity, 'CryptoOfficer');
  const principals = pages.flat();

  return (
    <Page
      title="Principals"
      actions={
        mayManage ? (
          <button type="button" className="button-primary" onClick={() => setCreating(true)}>
            Create principal
          </button>
        ) : undefined
      }
    >
      {!mayManage ? <p className="muted">You can read principals; only CryptoOfficers and the account root change them.</p> : null}
      {list.status === 'loading' ? <Progress label="Listing principals…" /> : null}
      <ErrorAlert error={list.error} context="The principals could not be listed." />
      {principals.length > 0 ? (
        <table className="table table-cards" aria-label="Principals">
          <thead>
            <tr>
              <th scope="col">User name</th>
              <th scope="col">Roles</th>
              <th scope="col">ARN</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {principals.map((p) => (
              <tr key={p.Arn}>
                <th scope="row" data-label="User name">
                  <Link to={`/principals/${encodeURIComponent(p.UserName)}`}>{p.UserName}</Link>
                </th>
                <td data-label="Roles">{p.Roles.join(', ')}</td>
                <td data-label="ARN" className="mono small wrap">
                  {p.Arn}
                </td>
                <td data-label="Created">
                  <DateTime value={p.CreateDate} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <LoadMore page={list.data} what="principals" onMore={setMarker} />
      {creating ? (
        <CreatePrincipalDialog
          onClose={() => setCreating(false)}
          onCreated={(created) => {
            setCreating(false);
            setSecret(created);
            setMarker(undefined);
            list.reload();
          }}
        />
      ) : null}
      {secret ? (
        <SecretOnce title="Principal created" arn={secret.Arn} accessKeyId={secret.AccessKeyId} secretAccessKey={secret.SecretAccessKey} onClose={() => setSecret(undefined)} />
      ) : null}
    </Page>
  );
}
