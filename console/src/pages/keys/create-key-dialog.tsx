/**
 * Create a key (and, optionally, its alias) in two visible steps. The key is made in the HSM by
 * CreateKey with the caller's own rights: a role that may not create keys gets the service's
 * AccessDeniedException here, word for word. A connected custom key store can hold the key
 * instead of the server's own token (symmetric keys only, as in AWS KMS).
 */
import { useId, useState, type FormEvent, type ReactElement } from 'react';
import { CreateAliasCommand, CreateKeyCommand, type CreateKeyCommandInput, type CustomKeyStoresListEntry, type KeyMetadata } from '@aws-sdk/client-kms';
import { KEY_SPECS, usagesFor, type KeySpec, type KeyUsage } from '../../../../src/core/model.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { aliasProblem } from './key-data.js';

const SPEC_LABELS: Partial<Record<KeySpec, string>> = {
  SYMMETRIC_DEFAULT: 'Symmetric (AES-256-GCM)',
};

export function CreateKeyDialog({
  stores,
  onClose,
  onCreated,
}: {
  /** The custom key stores the caller may see (undefined: none readable). */
  stores?: CustomKeyStoresListEntry[] | undefined;
  onClose: () => void;
  onCreated: (metadata: KeyMetadata, alias?: string) => void;
}): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const action = useAction();
  const [alias, setAlias] = useState('');
  const [description, setDescription] = useState('');
  const [spec, setSpec] = useState<KeySpec>('SYMMETRIC_DEFAULT');
  const [usage, setUsage] = useState<KeyUsage>('ENCRYPT_DECRYPT');
  const [step, setStep] = useState<{ label: string; value: number }>();
  const [created, setCreated] = useState<KeyMetadata>();
  const [storeId, setStoreId] = useState('');
  const [xksKeyId, setXksKeyId] = useState('');
  const store = stores?.find((s) => s.CustomKeyStoreId === storeId);
  const external = store?.CustomKeyStoreType === 'EXTERNAL_KEY_STORE';
  const usages = usagesFor(spec);
  const problem = aliasProblem(alias.trim());

  const chooseStore = (next: string) => {
    setStoreId(next);
    // Custom key stores hold symmetric encryption keys only.
    if (next !== '') {
      setSpec('SYMMETRIC_DEFAULT');
      setUsage('ENCRYPT_DECRYPT');
    }
  };
  const chooseSpec = (next: KeySpec) => {
    setSpec(next);
    if (!usagesFor(next).includes(usage)) setUsage(usagesFor(next)[0]!);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (problem || (external && xksKeyId.trim() === '')) return;
    const aliasName = alias.trim() === '' ? undefined : `alias/${alias.trim()}`;
    const total = aliasName ? 2 : 1;
    await action.run(async () => {
      let metadata = created;
      if (!metadata) {
        setStep({ label: `Step 1 of ${total}: creating the key ${store ? `in ${store.CustomKeyStoreName}` : 'in the HSM'}…`, value: 0 });
        const input: CreateKeyCommandInput = { KeySpec: spec, KeyUsage: usage, ...(description ? { Description: description } : {}) };
        if (store)
          Object.assign(input, {
            CustomKeyStoreId: store.CustomKeyStoreId,
            Origin: external ? 'EXTERNAL_KEY_STORE' : 'AWS_CLOUDHSM',
            ...(external ? { XksKeyId: xksKeyId.trim() } : {}),
          });
        metadata = (await kms.send(new CreateKeyCommand(input))).KeyMetadata!;
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
        {stores && stores.length > 0 ? (
          <div className="field-pair">
            <div className="field">
              <label htmlFor={`${id}-store`}>Key store</label>
              <select id={`${id}-store`} value={storeId} onChange={(e) => chooseStore(e.target.value)} disabled={created !== undefined} aria-describedby={`${id}-store-hint`}>
                <option value="">Default (this server’s token)</option>
                {stores.map((s) => (
                  <option key={s.CustomKeyStoreId} value={s.CustomKeyStoreId} disabled={s.ConnectionState !== 'CONNECTED'}>
                    {s.CustomKeyStoreName} ({s.CustomKeyStoreType}, {s.ConnectionState})
                  </option>
                ))}
              </select>
              <p id={`${id}-store-hint`} className="hint">
                Only a CONNECTED store can hold new keys; they are symmetric encryption keys.
              </p>
            </div>
            {external ? (
              <div className="field">
                <label htmlFor={`${id}-xks-key`}>External key ID (at the XKS proxy)</label>
                <input id={`${id}-xks-key`} required value={xksKeyId} onChange={(e) => setXksKeyId(e.target.value)} className="mono" autoComplete="off" spellCheck={false} disabled={created !== undefined} />
              </div>
            ) : null}
          </div>
        ) : null}
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-spec`}>Key spec</label>
            <select id={`${id}-spec`} value={spec} onChange={(e) => chooseSpec(e.target.value as KeySpec)} disabled={created !== undefined || store !== undefined}>
              {KEY_SPECS.map((s) => (
                <option key={s} value={s}>
                  {SPEC_LABELS[s] ?? s}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-usage`}>Key usage</label>
            <select id={`${id}-usage`} value={usage} onChange={(e) => setUsage(e.target.value as KeyUsage)} disabled={created !== undefined || usages.length === 1 || store !== undefined}>
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
          <button type="submit" className="button-primary" disabled={action.busy || problem !== undefined || (external && xksKeyId.trim() === '')}>
            {created ? 'Create alias' : 'Create key'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
