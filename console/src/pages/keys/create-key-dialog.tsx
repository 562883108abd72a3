/**
 * Create a key (and, optionally, its alias) in two visible steps. The key is made in the HSM by
 * CreateKey with the caller's own rights: a role that may not create keys gets the service's
 * AccessDeniedException here, word for word.
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { CreateAliasCommand, CreateKeyCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import { KEY_SPECS, usagesFor, type KeySpec, type KeyUsage } from '../../../../src/core/model.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

const SPEC_LABELS: Partial<Record<KeySpec, string>> = {
  SYMMETRIC_DEFAULT: 'Symmetric (AES-256-GCM)',
};

/** AWS's alias rule: `alias/` then letters, digits, `/_-`; `alias/aws/` is reserved. */
const ALIAS_NAME = /^[a-zA-Z0-9/_-]{1,250}$/;

export function aliasProblem(name: string): string | undefined {
  if (name === '') return undefined;
  if (!ALIAS_NAME.test(name)) return 'Use letters, digits, slashes, underscores and hyphens only (at most 250).';
  if (name.startsWith('aws/')) return 'Aliases that begin with aws/ are reserved for AWS managed keys.';
  return undefined;
}

export function CreateKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (metadata: KeyMetadata, alias?: string) => void }): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const action = useAction();
  const [alias, setAlias] = useState('');
  const [description, setDescription] = useState('');
  const [spec, setSpec] = useState<KeySpec>('SYMMETRIC_DEFAULT');
  const [usage, setUsage] = useState<KeyUsage>('ENCRYPT_DECRYPT');
  const [step, setStep] = useState<{ label: string; value: number }>();
  const [created, setCreated] = useState<KeyMetadata>();
  const usages = usagesFor(spec);
  const problem = aliasProblem(alias.trim());

  const chooseSpec = (next: KeySpec) => {
    setSpec(next);
    if (!usagesFor(next).includes(usage)) setUsage(usagesFor(next)[0]!);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem) return;
    const aliasName = alias.trim() === '' ? undefined : `alias/${alias.trim()}`;
    const total = aliasName ? 2 : 1;
    await action.run(async () => {
      let metadata = created;
      if (!metadata) {
        setStep({ label: `Step 1 of ${total}: creating the key in the HSM…`, value: 0 });
        metadata = (await kms.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: usage, ...(description ? { Description: description } : {}) }))).KeyMetadata!;
        // Kept so that a failed alias step does not create a second key when retried.
        setCreated(metadata);
      }
      if (aliasName) {
        setStep({ label: `Step 2 of ${total}: creating ${aliasName}…`, value: 1 });
        await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: metadata.KeyId! }));
      }
      setStep({ label: 'Done.', value: total });
      onCreated(metadata, aliasName);
    });
    setStep(undefined);
  };

  return (
    <Dialog title="Create key" onClose={onClose} busy={action.busy}>
      <form onSubmit={submit} className="form">
        {created ? (
          <div className="alert alert-warning" role="status">
            Key <code>{created.KeyId}</code> was created; only its alias is still missing. Submit again to retry the alias, or close to keep the key
            without one.
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${id}-alias`}>Alias (optional)</label>
          <div className="input-row input-prefixed">
            <span className="input-prefix" aria-hidden="true">
              alias/
            </span>
            <input
              id={`${id}-alias`}
              value={alias}
              onChange={(e) => setAlias(e.target.value)}
              aria-invalid={problem !== undefined}
              aria-describedby={`${id}-alias-hint`}
              autoComplete="off"
              spellCheck={false}
              autoFocus
            />
          </div>
          <p id={`${id}-alias-hint`} className={problem ? 'hint status-error' : 'hint'}>
            {problem ?? 'A name applications can use instead of the key id, e.g. payments/prod.'}
          </p>
        </div>
        <div className="field">
          <label htmlFor={`${id}-description`}>Description (optional)</label>
          <input id={`${id}-description`} value={description} maxLength={8192} onChange={(e) => setDescription(e.target.value)} disabled={created !== undefined} />
        </div>
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-spec`}>Key spec</label>
            <select id={`${id}-spec`} value={spec} onChange={(e) => chooseSpec(e.target.value as KeySpec)} disabled={created !== undefined}>
              {KEY_SPECS.map((s) => (
                <option key={s} value={s}>
                  {SPEC_LABELS[s] ?? s}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-usage`}>Key usage</label>
            <select id={`${id}-usage`} value={usage} onChange={(e) => setUsage(e.target.value as KeyUsage)} disabled={created !== undefined || usages.length === 1}>
              {usages.map((u) => (
                <option key={u} value={u}>
                  {u}
                </option>
              ))}
            </select>
          </div>
        </div>
        <ErrorAlert error={action.error} context={created ? 'The alias could not be created.' : 'The key could not be created.'} />
        {step ? <Progress label={step.label} value={step.value} max={alias.trim() ? 2 : 1} /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            {created ? 'Close' : 'Cancel'}
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || problem !== undefined}>
            {created ? 'Create alias' : 'Create key'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
