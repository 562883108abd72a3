/**
 * A key's grants: listed page by page, created (CreateGrant: grantee, operations the key
 * supports, an optional encryption context constraint, a retiring principal) and revoked
 * (RevokeGrant, confirmed).
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { CreateGrantCommand, ListGrantsCommand, RevokeGrantCommand, type GrantConstraints, type GrantListEntry, type KeyMetadata } from '@aws-sdk/client-kms';
import { CONTEXT_GRANT_OPERATIONS, GRANT_MANAGEMENT_OPERATIONS, GRANT_OPERATIONS, grantOperationsFor, type GrantOperation } from '../../../../src/core/grants/grant-operations.js';
import type { KeySpec, KeyUsage } from '../../../../src/core/model.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { LoadMore } from '../../components/load-more.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { CopyField } from '../../components/secret-once.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { parseContext } from './explain-panel.js';

type ConstraintKind = 'none' | 'EncryptionContextEquals' | 'EncryptionContextSubset';

/** A user name becomes this account's user ARN; an ARN is taken as typed. */
function principalArn(text: string, account: string, partition: string): string {
  const value = text.trim();
  return value.startsWith('arn:') ? value : `arn:${partition}:iam::${account}:user/${value}`;
}

function CreateGrantDialog({ keyId, metadata, onClose, onCreated }: { keyId: string; metadata: KeyMetadata; onClose: () => void; onCreated: () => void }): ReactElement {
  const { kms, identity, partition } = useSession();
  const id = useId();
  const action = useAction();
  const supported = grantOperationsFor({ keyUsage: metadata.KeyUsage as KeyUsage, keySpec: metadata.KeySpec as KeySpec });
  const offered = GRANT_OPERATIONS.filter((op) => supported.has(op));
  const constrainable = metadata.KeySpec === 'SYMMETRIC_DEFAULT';
  const [grantee, setGrantee] = useState('');
  const [operations, setOperations] = useState<GrantOperation[]>([]);
  const [constraintKind, setConstraintKind] = useState<ConstraintKind>('none');
  const [constraintText, setConstraintText] = useState('');
  const [retiring, setRetiring] = useState('');
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ grantId: string; grantToken: string }>();

  const context = constraintKind === 'none' ? undefined : parseContext(constraintText);
  const contextProblem =
    constraintKind === 'none'
      ? undefined
      : typeof context === 'string'
        ? context
        : context === undefined
          ? 'Give at least one key=value pair.'
          : operations.some((op) => !CONTEXT_GRANT_OPERATIONS.has(op) && !GRANT_MANAGEMENT_OPERATIONS.includes(op))
            ? 'A constraint can only go with operations that take an encryption context.'
            : undefined;
  const ready = grantee.trim() !== '' && operations.length > 0 && contextProblem === undefined;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!ready) return;
    const constraints: GrantConstraints | undefined =
      constraintKind === 'none' || typeof context !== 'object' ? undefined : { [constraintKind]: context };
    const answer = await action.run(() =>
      kms.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: principalArn(grantee, identity.Account, partition),
          Operations: operations,
          ...(constraints ? { Constraints: constraints } : {}),
          ...(retiring.trim() ? { RetiringPrincipal: principalArn(retiring, identity.Account, partition) } : {}),
          ...(name.trim() ? { Name: name.trim() } : {}),
        }),
      ),
    );
    if (answer?.GrantId && answer.GrantToken) {
      setCreated({ grantId: answer.GrantId, grantToken: answer.GrantToken });
      onCreated();
    }
  };

  if (created)
    return (
      <Dialog title="Grant created" onClose={onClose}>
        <p>The grantee can use the key now. The grant token lets it do so before the grant is visible everywhere (pass it as GrantTokens).</p>
        <CopyField id={`${id}-grant-id`} label="Grant ID" value={created.grantId} />
        <CopyField id={`${id}-grant-token`} label="Grant token" value={created.grantToken} />
        <div className="dialog-actions">
          <button type="button" className="button-primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );

  return (
    <Dialog title="Create grant" onClose={onClose} busy={action.busy} wide>
      <form onSubmit={submit} className="form">
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-grantee`}>Grantee (user name or principal ARN)</label>
            <input id={`${id}-grantee`} required value={grantee} onChange={(e) => setGrantee(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
          </div>
          <div className="field">
            <label htmlFor={`${id}-retiring`}>Retiring principal (optional)</label>
            <input id={`${id}-retiring`} value={retiring} onChange={(e) => setRetiring(e.target.value)} autoComplete="off" spellCheck={false} />
          </div>
        </div>
        <fieldset>
          <legend>Operations the grantee may call</legend>
          <div className="checkbox-grid">
            {offered.map((op) => (
              <div className="field-check" key={op}>
                <input
                  id={`${id}-op-${op}`}
                  type="checkbox"
                  checked={operations.includes(op)}
                  onChange={(e) => setOperations((current) => (e.target.checked ? [...current, op] : current.filter((o) => o !== op)))}
                />
                <label htmlFor={`${id}-op-${op}`}>{op}</label>
              </div>
            ))}
          </div>
        </fieldset>
        {constrainable ? (
          <div className="field-pair">
            <div className="field">
              <label htmlFor={`${id}-constraint`}>Encryption context constraint</label>
              <select id={`${id}-constraint`} value={constraintKind} onChange={(e) => setConstraintKind(e.target.value as ConstraintKind)}>
                <option value="none">None</option>
                <option value="EncryptionContextEquals">The context must equal</option>
                <option value="EncryptionContextSubset">The context must include</option>
              </select>
            </div>
            {constraintKind !== 'none' ? (
              <div className="field">
                <label htmlFor={`${id}-context`}>Pairs (one key=value per line)</label>
                <textarea
                  id={`${id}-context`}
                  className="code"
                  rows={3}
                  value={constraintText}
                  onChange={(e) => setConstraintText(e.target.value)}
                  aria-invalid={contextProblem !== undefined}
                  aria-describedby={`${id}-context-hint`}
                  spellCheck={false}
                />
                <p id={`${id}-context-hint`} className={contextProblem ? 'hint status-error' : 'hint'}>
                  {contextProblem ?? 'Calls that carry a different encryption context are refused.'}
                </p>
              </div>
            ) : null}
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${id}-name`}>Name (optional)</label>
          <input id={`${id}-name`} value={name} maxLength={256} onChange={(e) => setName(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <ErrorAlert error={action.error} context="The grant was not created." />
        {action.busy ? <Progress label="Creating the grant…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || !ready}>
            Create grant
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function KeyGrantsSection({ keyId, metadata, manage }: { keyId: string; metadata: KeyMetadata | undefined; manage: boolean }): ReactElement {
  const { kms } = useSession();
  const [marker, setMarker] = useState<string>();
  const [generation, setGeneration] = useState(0);
  const [pages, setPages] = useState<GrantListEntry[][]>([]);
  const list = useLoad(async () => {
    const page = await kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
    setPages((previous) => (marker ? [...previous, page.Grants ?? []] : [page.Grants ?? []]));
    return page;
  }, [kms, keyId, marker, generation]);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<GrantListEntry>();
  const [note, setNote] = useState<string>();
  const revoke = useAction();
  const grants = pages.flat();
  const reload = () => {
    setMarker(undefined);
    setGeneration((g) => g + 1);
  };

  const confirmRevoke = async () => {
    if (!revoking?.GrantId) return;
    const done = await revoke.run(() => kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: revoking.GrantId })));
    if (done) {
      setNote(`Grant ${revoking.Name ?? revoking.GrantId} is revoked.`);
      setRevoking(undefined);
      reload();
    }
  };

  return (
    <Section
      id="grants"
      title="Grants"
      actions={
        manage && metadata ? (
          <button type="button" className="button-small" onClick={() => setCreating(true)}>
            Create grant
          </button>
        ) : undefined
      }
    >
      {list.status === 'loading' ? <Progress label="Loading grants…" /> : null}
      <ErrorAlert error={list.error} context="The grants could not be read." />
      {note ? (
        <p className="status-ok" role="status">
          {note}
        </p>
      ) : null}
      {list.status !== 'loading' && !list.error && grants.length === 0 ? <p className="muted">No grants.</p> : null}
      {grants.length > 0 ? (
        <table className="table table-cards" aria-label="Grants">
          <thead>
            <tr>
              <th scope="col">Grant</th>
              <th scope="col">Grantee</th>
              <th scope="col">Operations</th>
              <th scope="col">Constraints</th>
              <th scope="col">Retiring principal</th>
              <th scope="col">Created</th>
              {manage ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {grants.map((g) => (
              <tr key={g.GrantId}>
                <th scope="row" data-label="Grant">
                  {g.Name ? <div>{g.Name}</div> : null}
                  <div className="mono small">{g.GrantId}</div>
                </th>
                <td data-label="Grantee" className="wrap">
                  {g.GranteePrincipal}
                </td>
                <td data-label="Operations">{(g.Operations ?? []).join(', ')}</td>
                <td data-label="Constraints" className="mono small">
                  {g.Constraints ? JSON.stringify(g.Constraints) : '—'}
                </td>
                <td data-label="Retiring principal" className="wrap">
                  {g.RetiringPrincipal ?? '—'}
                </td>
                <td data-label="Created">
                  <DateTime value={g.CreationDate} />
                </td>
                {manage ? (
                  <td data-label="Actions">
                    <button
                      type="button"
                      className="button-small button-danger-quiet"
                      aria-label={`Revoke grant ${g.Name ?? g.GrantId}`}
                      onClick={() => {
                        revoke.clear();
                        setRevoking(g);
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <LoadMore page={list.data} what="grants" onMore={setMarker} />
      {creating && metadata ? (
        <CreateGrantDialog
          keyId={keyId}
          metadata={metadata}
          onClose={() => setCreating(false)}
          onCreated={() => {
            setNote(undefined);
            reload();
          }}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke grant ${revoking.Name ?? revoking.GrantId}?`}
          confirmLabel="Revoke grant"
          busyLabel="Revoking the grant…"
          busy={revoke.busy}
          error={revoke.error}
          danger
          onClose={() => setRevoking(undefined)}
          onConfirm={() => void confirmRevoke()}
        >
          <p>
            {revoking.GranteePrincipal} loses {(revoking.Operations ?? []).join(', ')} on this key from the next request. Grant tokens of this grant stop
            working too.
          </p>
        </ConfirmDialog>
      ) : null}
    </Section>
  );
}
