/**
 * One principal: roles (CryptoOfficers change them), identity policies (edited and validated
 * as identity policies), access keys (a new secret shown once), tags, and deletion.
 */
import { useEffect, useId, useState, type FormEvent, type ReactElement } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { checkPolicyName, checkRoles } from '../../../../src/core/admin/principal-names.js';
import type { IdentityPolicy, PrincipalDetails, PrincipalRole } from '../../api/hsmkms-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page, Section } from '../../components/page.js';
import { checkPolicy, PolicyEditor } from '../../components/policy-editor.js';
import { Progress } from '../../components/progress.js';
import { SecretOnce } from '../../components/secret-once.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { hasRole, useSession } from '../../session/session.js';
import { RolePicker, rulesProblem } from './roles.js';

const EMPTY_IDENTITY_POLICY = JSON.stringify(
  { Version: '2012-10-17', Statement: [{ Sid: 'AllowDescribe', Effect: 'Allow', Action: ['kms:DescribeKey'], Resource: '*' }] },
  null,
  2,
);

function RolesPart({ principal, mayManage, onChanged }: { principal: PrincipalDetails; mayManage: boolean; onChanged: () => void }): ReactElement {
  const { hsmkms } = useSession();
  const [roles, setRoles] = useState<PrincipalRole[]>(principal.Roles);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => setRoles(principal.Roles), [principal.Roles]);
  const changed = [...roles].sort().join() !== [...principal.Roles].sort().join();
  const problem = roles.length === 0 ? 'Choose at least one role.' : rulesProblem(() => checkRoles(roles));
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    if (await action.run(async () => (await hsmkms.call('UpdatePrincipalRoles', { UserName: principal.UserName, Roles: roles }), true))) {
      setSaved(true);
      onChanged();
    }
  };
  if (!mayManage) return <p>{principal.Roles.join(', ')}</p>;
  return (
    <form onSubmit={save}>
      <RolePicker legend={`Roles of ${principal.UserName}`} value={roles} onChange={(r) => (setRoles(r), setSaved(false))} problem={changed ? problem : undefined} />
      <ErrorAlert error={action.error} context="The roles were not changed." />
      {action.busy ? <Progress label="Saving the roles…" /> : null}
      {saved && !changed ? (
        <p className="status-ok" role="status">
          Roles saved; they apply from the principal’s next request.
        </p>
      ) : null}
      <div className="button-row">
        <button type="submit" className="button-primary" disabled={!changed || problem !== undefined || action.busy}>
          Save roles
        </button>
      </div>
    </form>
  );
}

function PolicyDialog({ userName, existing, onClose, onSaved }: { userName: string; existing?: IdentityPolicy; onClose: () => void; onSaved: () => void }): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const [name, setName] = useState(existing?.PolicyName ?? '');
  const [document, setDocument] = useState(() => {
    if (!existing) return EMPTY_IDENTITY_POLICY;
    try {
      return JSON.stringify(JSON.parse(existing.PolicyDocument), null, 2);
    } catch {
      return existing.PolicyDocument;
    }
  });
  const action = useAction();
  const nameProblem = name === '' ? undefined : rulesProblem(() => checkPolicyName(name));
  const valid = name !== '' && !nameProblem && checkPolicy(document, 'identity').ok;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await action.run(async () => (await hsmkms.call('PutPrincipalPolicy', { UserName: userName, PolicyName: name, PolicyDocument: document }), true))) onSaved();
  };
  return (
    <Dialog title={existing ? `Edit policy ${existing.PolicyName}` : `Add an identity policy to ${userName}`} onClose={onClose} busy={action.busy} wide>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor={`${id}-name`}>Policy name</label>
          <input
            id={`${id}-name`}
            required
            value={name}
            readOnly={existing !== undefined}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={nameProblem !== undefined}
            aria-describedby={`${id}-name-hint`}
            autoComplete="off"
            spellCheck={false}
          />
          <p id={`${id}-name-hint`} className={nameProblem ? 'hint status-error' : 'hint'}>
            {nameProblem ?? 'Identity policies name no Principal: they apply to this principal.'}
          </p>
        </div>
        <PolicyEditor label="Policy document (JSON)" value={document} onChange={setDocument} kind="identity" rows={14} />
        <ErrorAlert error={action.error} context="The policy was not saved." />
        {action.busy ? <Progress label="Saving the policy…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={!valid || action.busy}>
            Save policy
          </button>
        </div>
      </form>
    </Dialog>
  );
}

type Confirm = { kind: 'policy'; name: string } | { kind: 'access-key'; id: string } | { kind: 'principal' };

export default function PrincipalDetailPage(): ReactElement {
  const { userName = '' } = useParams();
  const { hsmkms, identity } = useSession();
  const navigate = useNavigate();
  const loaded = useLoad(async () => (await hsmkms.call('GetPrincipal', { UserName: userName })).Principal, [hsmkms, userName]);
  const mayManage = hasRole(identity, 'CryptoOfficer');
  const [editing, setEditing] = useState<IdentityPolicy | 'new'>();
  const [confirm, setConfirm] = useState<Confirm>();
  const [secret, setSecret] = useState<{ AccessKeyId: string; SecretAccessKey: string }>();
  const action = useAction();
  const confirmAction = useAction();
  const p = loaded.data;

  const createKey = async () => {
    const created = await action.run(() => hsmkms.call('CreateAccessKey', { UserName: userName }));
    if (created) {
      setSecret(created.AccessKey);
      loaded.reload();
    }
  };
  const runConfirmed = async () => {
    if (!confirm) return;
    const ok = await confirmAction.run(async () => {
      if (confirm.kind === 'policy') await hsmkms.call('DeletePrincipalPolicy', { UserName: userName, PolicyName: confirm.name });
      else if (confirm.kind === 'access-key') await hsmkms.call('DeleteAccessKey', { UserName: userName, AccessKeyId: confirm.id });
      else await hsmkms.call('DeletePrincipal', { UserName: userName });
      return true;
    });
    if (!ok) return;
    const kind = confirm.kind;
    setConfirm(undefined);
    if (kind === 'principal') navigate('/principals');
    else loaded.reload();
  };

  return (
    <Page
      title={userName}
      actions={
        mayManage && p ? (
          <button type="button" className="button-danger-quiet" onClick={() => (confirmAction.clear(), setConfirm({ kind: 'principal' }))}>
            Delete principal…
          </button>
        ) : undefined
      }
    >
      <p>
        <Link to="/principals">← All principals</Link>
      </p>
      {loaded.status === 'loading' ? <Progress label="Loading the principal…" /> : null}
      <ErrorAlert error={loaded.error} context="The principal could not be read." />
      {p ? (
        <>
          <Section id="details" title="Details">
            <dl className="details">
              <div>
                <dt>ARN</dt>
                <dd className="mono wrap">{p.Arn}</dd>
              </div>
              <div>
                <dt>Created</dt>
                <dd>
                  <DateTime value={p.CreateDate} />
                </dd>
              </div>
              <div>
                <dt>Keys it owns</dt>
                <dd>{p.OwnedKeyCount}</dd>
              </div>
              <div>
                <dt>Tags</dt>
                <dd>{p.Tags.length === 0 ? <span className="muted">none</span> : p.Tags.map((t) => `${t.TagKey}=${t.TagValue}`).join(', ')}</dd>
              </div>
            </dl>
          </Section>
          <Section id="roles" title="Roles">
            <RolesPart principal={p} mayManage={mayManage} onChanged={loaded.reload} />
          </Section>
          <Section
            id="policies"
            title="Identity policies"
            actions={
              mayManage ? (
                <button type="button" className="button-small" onClick={() => setEditing('new')}>
                  Add policy
                </button>
              ) : undefined
            }
          >
            {p.Policies.length === 0 ? <p className="muted">No identity policies.</p> : null}
            {p.Policies.map((policy) => (
              <details key={policy.PolicyName} className="policy-item">
                <summary>
                  <strong>{policy.PolicyName}</strong> <span className="muted">updated <DateTime value={policy.UpdateDate} /></span>
                </summary>
                <PolicyEditor label={`Policy ${policy.PolicyName}`} value={policy.PolicyDocument} onChange={() => {}} kind="identity" readOnly rows={8} />
                {mayManage ? (
                  <div className="button-row">
                    <button type="button" className="button-small" onClick={() => setEditing(policy)}>
                      Edit
                    </button>
                    <button type="button" className="button-small button-danger-quiet" onClick={() => (confirmAction.clear(), setConfirm({ kind: 'policy', name: policy.PolicyName }))}>
                      Delete
                    </button>
                  </div>
                ) : null}
              </details>
            ))}
          </Section>
          <Section
            id="access-keys"
            title="Access keys"
            actions={
              mayManage ? (
                <button type="button" className="button-small" onClick={() => void createKey()} disabled={action.busy}>
                  Create access key
                </button>
              ) : undefined
            }
          >
            {action.busy ? <Progress label="Creating an access key…" /> : null}
            <ErrorAlert error={action.error} context="No access key was created." />
            <table className="table" aria-label="Access keys">
              <thead>
                <tr>
                  <th scope="col">Access key ID</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  {mayManage ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {p.AccessKeys.map((k) => (
                  <tr key={k.AccessKeyId}>
                    <td className="mono">{k.AccessKeyId}</td>
                    <td>{k.Status}</td>
                    <td>
                      <DateTime value={k.CreateDate} />
                    </td>
                    {mayManage ? (
                      <td>
                        <button
                          type="button"
                          className="button-small button-danger-quiet"
                          aria-label={`Delete access key ${k.AccessKeyId}`}
                          onClick={() => (confirmAction.clear(), setConfirm({ kind: 'access-key', id: k.AccessKeyId }))}
                        >
                          Delete
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
        </>
      ) : null}

      {editing ? (
        <PolicyDialog
          userName={userName}
          {...(editing === 'new' ? {} : { existing: editing })}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            loaded.reload();
          }}
        />
      ) : null}
      {secret ? <SecretOnce title="Access key created" accessKeyId={secret.AccessKeyId} secretAccessKey={secret.SecretAccessKey} onClose={() => setSecret(undefined)} /> : null}
      {confirm ? (
        <ConfirmDialog
          title={confirm.kind === 'policy' ? `Delete policy ${confirm.name}?` : confirm.kind === 'access-key' ? `Delete access key ${confirm.id}?` : `Delete principal ${userName}?`}
          confirmLabel="Delete"
          busyLabel="Deleting…"
          busy={confirmAction.busy}
          error={confirmAction.error}
          danger
          onClose={() => setConfirm(undefined)}
          onConfirm={() => void runConfirmed()}
        >
          <p>
            {confirm.kind === 'policy'
              ? 'What this policy allowed is refused from the principal’s next request.'
              : confirm.kind === 'access-key'
                ? 'Requests signed with this key are refused from now on.'
                : 'Its access keys, roles, policies and tags go at once. Keys it owns stay, without an owner.'}
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
