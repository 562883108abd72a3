/**
 * A key's aliases: listed, added (CreateAlias) and removed (DeleteAlias, confirmed), each name
 * checked as it is typed with the service's own alias rule.
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { CreateAliasCommand, DeleteAliasCommand, type AliasListEntry } from '@aws-sdk/client-kms';
import { ALIAS_NAME_MAX_LENGTH, ALIAS_PREFIX } from '../../../../src/core/operations/alias-names.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Part } from '../../components/loaded-part.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, type Loaded } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { aliasProblem } from './key-data.js';

/** `aliases`: the key's aliases as the page loaded them; `onChanged` reloads them. */
export function KeyAliasesSection(props: { keyId: string; aliases: Loaded<AliasListEntry[]>; manage: boolean; onChanged: () => void }): ReactElement {
  const { keyId, aliases, manage, onChanged } = props;
  const { kms } = useSession();
  const id = useId();
  const [name, setName] = useState('');
  const [removing, setRemoving] = useState<string>();
  const [note, setNote] = useState<string>();
  const add = useAction();
  const remove = useAction();
  const problem = aliasProblem(name.trim());

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem || name.trim() === '') return;
    const aliasName = `${ALIAS_PREFIX}${name.trim()}`;
    const done = await add.run(() => kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: keyId })));
    if (done) {
      setName('');
      setNote(`${aliasName} now points to this key.`);
      onChanged();
    }
  };
  const confirmRemove = async () => {
    if (!removing) return;
    const done = await remove.run(() => kms.send(new DeleteAliasCommand({ AliasName: removing })));
    if (done) {
      setNote(`${removing} is deleted; the key is unchanged.`);
      setRemoving(undefined);
      onChanged();
    }
  };

  return (
    <Section id="aliases" title="Aliases">
      <Part loaded={aliases} what="aliases">
        {(list) =>
          list.length === 0 ? (
            <p className="muted">No alias points to this key.</p>
          ) : (
            <ul className="plain-list">
              {list.map((a) => (
                <li key={a.AliasName} className="list-row">
                  <code>{a.AliasName}</code>
                  {manage ? (
                    <button
                      type="button"
                      className="button-small button-danger-quiet"
                      aria-label={`Delete ${a.AliasName}`}
                      onClick={() => {
                        remove.clear();
                        setRemoving(a.AliasName);
                      }}
                    >
                      Delete
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
          )
        }
      </Part>
      {note ? (
        <p className="status-ok" role="status">
          {note}
        </p>
      ) : null}
      {manage ? (
        <form className="form inline-form" onSubmit={submit} aria-label="Add an alias">
          <div className="field">
            <label htmlFor={`${id}-alias`}>New alias</label>
            <div className="input-row">
              <div className="input-row input-prefixed">
                <span className="input-prefix" aria-hidden="true">
                  {ALIAS_PREFIX}
                </span>
                <input
                  id={`${id}-alias`}
                  value={name}
                  maxLength={ALIAS_NAME_MAX_LENGTH - ALIAS_PREFIX.length}
                  onChange={(e) => {
                    setName(e.target.value);
                    setNote(undefined);
                  }}
                  aria-invalid={problem !== undefined}
                  aria-describedby={`${id}-alias-hint`}
                  autoComplete="off"
                  spellCheck={false}
                />
              </div>
              <button type="submit" disabled={add.busy || problem !== undefined || name.trim() === ''}>
                Add alias
              </button>
            </div>
            <p id={`${id}-alias-hint`} className={problem ? 'hint status-error' : 'hint'}>
              {problem ?? 'Applications can name the key by its alias; an alias points to one key at a time.'}
            </p>
          </div>
          {add.busy ? <Progress label="Creating the alias…" /> : null}
          <ErrorAlert error={add.error} context="The alias was not created." />
        </form>
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Delete ${removing}?`}
          confirmLabel="Delete alias"
          busyLabel="Deleting the alias…"
          busy={remove.busy}
          error={remove.error}
          danger
          onClose={() => setRemoving(undefined)}
          onConfirm={() => void confirmRemove()}
        >
          <p>Applications that name the key by this alias will fail until it exists again. The key itself is not changed.</p>
        </ConfirmDialog>
      ) : null}
    </Section>
  );
}
