/**
 * Creating and changing a custom key store. A token-backed store (AWS_CLOUDHSM) names a cluster
 * this server was started with and the token user's PIN as its password; an external store
 * names its XKS proxy (endpoint, path, SigV4 credential). Secrets typed here go into the one
 * request and are then dropped from the form.
 */
import { useId, useState, type FormEvent, type ReactElement, type ReactNode } from 'react';
import { CreateCustomKeyStoreCommand, UpdateCustomKeyStoreCommand, type CustomKeyStoresListEntry, type UpdateCustomKeyStoreCommandInput } from '@aws-sdk/client-kms';
import type { CustomKeyStoreType } from '../../../../src/core/key-stores/model.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

const XKS_DEFAULT_PATH = '/kms/xks/v1';

function TextField(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  hint?: ReactNode;
  type?: 'text' | 'password' | 'url';
  required?: boolean;
  disabled?: boolean;
  autoFocus?: boolean;
  maxLength?: number;
  mono?: boolean;
}): ReactElement {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? 'text'}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        required={props.required}
        disabled={props.disabled}
        autoFocus={props.autoFocus}
        maxLength={props.maxLength}
        className={props.mono ? 'mono' : undefined}
        autoComplete={props.type === 'password' ? 'new-password' : 'off'}
        spellCheck={false}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
      />
      {props.hint ? (
        <p id={`${id}-hint`} className="hint">
          {props.hint}
        </p>
      ) : null}
    </div>
  );
}

export function CreateKeyStoreDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string, name: string) => void }): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const action = useAction();
  const [type, setType] = useState<CustomKeyStoreType>('AWS_CLOUDHSM');
  const [name, setName] = useState('');
  const [cluster, setCluster] = useState('');
  const [password, setPassword] = useState('');
  const [trustAnchor, setTrustAnchor] = useState('');
  const [endpoint, setEndpoint] = useState('');
  const [path, setPath] = useState(XKS_DEFAULT_PATH);
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secret, setSecret] = useState('');

  const ready =
    name.trim() !== '' &&
    (type === 'AWS_CLOUDHSM' ? cluster.trim() !== '' && password !== '' : endpoint.trim() !== '' && path.trim() !== '' && accessKeyId.trim() !== '' && secret !== '');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!ready) return;
    const input =
      type === 'AWS_CLOUDHSM'
        ? {
            CustomKeyStoreName: name.trim(),
            CustomKeyStoreType: type,
            CloudHsmClusterId: cluster.trim(),
            KeyStorePassword: password,
            ...(trustAnchor.trim() ? { TrustAnchorCertificate: trustAnchor.trim() } : {}),
          }
        : {
            CustomKeyStoreName: name.trim(),
            CustomKeyStoreType: type,
            XksProxyConnectivity: 'PUBLIC_ENDPOINT' as const,
            XksProxyUriEndpoint: endpoint.trim(),
            XksProxyUriPath: path.trim(),
            XksProxyAuthenticationCredential: { AccessKeyId: accessKeyId.trim(), RawSecretAccessKey: secret },
          };
    const answer = await action.run(() => kms.send(new CreateCustomKeyStoreCommand(input)));
    if (answer?.CustomKeyStoreId) {
      setPassword('');
      setSecret('');
      onCreated(answer.CustomKeyStoreId, name.trim());
    }
  };

  return (
    <Dialog title="Create custom key store" onClose={onClose} busy={action.busy} wide>
      <form onSubmit={submit} className="form">
        <fieldset>
          <legend>Type</legend>
          <div className="field-check">
            <input id={`${id}-cloudhsm`} type="radio" name="type" checked={type === 'AWS_CLOUDHSM'} onChange={() => setType('AWS_CLOUDHSM')} />
            <label htmlFor={`${id}-cloudhsm`}>Token-backed (AWS_CLOUDHSM): keys in another token or HSM partition this server was started with</label>
          </div>
          <div className="field-check">
            <input id={`${id}-xks`} type="radio" name="type" checked={type === 'EXTERNAL_KEY_STORE'} onChange={() => setType('EXTERNAL_KEY_STORE')} />
            <label htmlFor={`${id}-xks`}>External (EXTERNAL_KEY_STORE): keys held by an XKS proxy outside hsmkms</label>
          </div>
        </fieldset>
        <TextField label="Name" value={name} onChange={setName} required maxLength={256} autoFocus hint="Unique in this account, e.g. payments-partition." />
        {type === 'AWS_CLOUDHSM' ? (
          <>
            <TextField
              label="Cluster ID"
              value={cluster}
              onChange={setCluster}
              required
              mono
              hint={
                <>
                  A cluster configured with <code>hsmkms serve --cluster ID=MODULE:TOKEN</code> (with the embedded SoftHSM2:{' '}
                  <code>hsmkms token init --label ID</code>).
                </>
              }
            />
            <TextField label="Key store password" type="password" value={password} onChange={setPassword} required hint="The token user’s PIN (kmsuser’s password on AWS CloudHSM). Kept sealed by the HSM; never shown again." />
            <div className="field">
              <label htmlFor={`${id}-anchor`}>Trust anchor certificate (optional, PEM)</label>
              <textarea id={`${id}-anchor`} className="code" rows={3} value={trustAnchor} onChange={(e) => setTrustAnchor(e.target.value)} spellCheck={false} />
            </div>
          </>
        ) : (
          <>
            <div className="field-pair">
              <TextField label="Proxy endpoint" type="url" value={endpoint} onChange={setEndpoint} required mono hint="https://HOST[:PORT], no path (plain http:// only on a loopback address)." />
              <TextField label="Proxy URI path" value={path} onChange={setPath} required mono hint="[/prefix]/kms/xks/v1" />
            </div>
            <div className="field-pair">
              <TextField label="Proxy access key ID" value={accessKeyId} onChange={setAccessKeyId} required mono />
              <TextField label="Proxy secret access key" type="password" value={secret} onChange={setSecret} required mono />
            </div>
            <p className="hint">The proxy is reached at a public endpoint (XksProxyConnectivity PUBLIC_ENDPOINT) and must answer now, as AWS requires.</p>
          </>
        )}
        <ErrorAlert error={action.error} context="The key store was not created." />
        {action.busy ? <Progress label={type === 'AWS_CLOUDHSM' ? 'Creating the key store…' : 'Checking the proxy and creating the key store…'} /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || !ready}>
            Create key store
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function UpdateKeyStoreDialog({ store, onClose, onUpdated }: { store: CustomKeyStoresListEntry; onClose: () => void; onUpdated: (what: string) => void }): ReactElement {
  const { kms } = useSession();
  const action = useAction();
  const disconnected = store.ConnectionState === 'DISCONNECTED';
  const [name, setName] = useState(store.CustomKeyStoreName ?? '');
  const [cluster, setCluster] = useState(store.CloudHsmClusterId ?? '');
  const [password, setPassword] = useState('');
  const [endpoint, setEndpoint] = useState(store.XksProxyConfiguration?.UriEndpoint ?? '');
  const [path, setPath] = useState(store.XksProxyConfiguration?.UriPath ?? '');
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secret, setSecret] = useState('');
  const cloudHsm = store.CustomKeyStoreType !== 'EXTERNAL_KEY_STORE';
  const onlyWhenDisconnected = disconnected ? undefined : 'Only while the store is disconnected.';

  const input: UpdateCustomKeyStoreCommandInput = { CustomKeyStoreId: store.CustomKeyStoreId! };
  const changed: string[] = [];
  if (name.trim() !== '' && name.trim() !== store.CustomKeyStoreName) {
    input.NewCustomKeyStoreName = name.trim();
    changed.push('name');
  }
  if (cloudHsm) {
    if (password !== '') {
      input.KeyStorePassword = password;
      changed.push('password');
    }
    if (cluster.trim() !== '' && cluster.trim() !== store.CloudHsmClusterId) {
      input.CloudHsmClusterId = cluster.trim();
      changed.push('cluster');
    }
  } else {
    if (endpoint.trim() !== '' && endpoint.trim() !== store.XksProxyConfiguration?.UriEndpoint) {
      input.XksProxyUriEndpoint = endpoint.trim();
      changed.push('proxy endpoint');
    }
    if (path.trim() !== '' && path.trim() !== store.XksProxyConfiguration?.UriPath) {
      input.XksProxyUriPath = path.trim();
      changed.push('proxy path');
    }
    if (accessKeyId.trim() !== '' || secret !== '') {
      input.XksProxyAuthenticationCredential = { AccessKeyId: accessKeyId.trim(), RawSecretAccessKey: secret };
      changed.push('proxy credential');
    }
  }
  const credentialHalf = !cloudHsm && (accessKeyId.trim() === '') !== (secret === '');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (changed.length === 0 || credentialHalf) return;
    const done = await action.run(() => kms.send(new UpdateCustomKeyStoreCommand(input)));
    if (done) {
      setPassword('');
      setSecret('');
      onUpdated(changed.join(', '));
    }
  };

  return (
    <Dialog title={`Update ${store.CustomKeyStoreName}`} onClose={onClose} busy={action.busy} wide>
      <form onSubmit={submit} className="form">
        <TextField label="Name" value={name} onChange={setName} maxLength={256} autoFocus />
        {cloudHsm ? (
          <>
            <TextField label="Cluster ID" value={cluster} onChange={setCluster} mono disabled={!disconnected} hint={onlyWhenDisconnected ?? 'Another configured cluster holding the same key objects (a restored backup).'} />
            <TextField
              label="New key store password"
              type="password"
              value={password}
              onChange={setPassword}
              disabled={!disconnected}
              hint={onlyWhenDisconnected ?? 'After the token user’s PIN changed; leave empty to keep the current one.'}
            />
          </>
        ) : (
          <>
            <div className="field-pair">
              <TextField label="Proxy endpoint" type="url" value={endpoint} onChange={setEndpoint} mono disabled={!disconnected} hint={onlyWhenDisconnected} />
              <TextField label="Proxy URI path" value={path} onChange={setPath} mono />
            </div>
            <div className="field-pair">
              <TextField label="New proxy access key ID" value={accessKeyId} onChange={setAccessKeyId} mono />
              <TextField label="New proxy secret access key" type="password" value={secret} onChange={setSecret} mono />
            </div>
            {credentialHalf ? (
              <p className="hint status-error" role="alert">
                Give both the access key ID and the secret access key of the new credential.
              </p>
            ) : null}
          </>
        )}
        <ErrorAlert error={action.error} context="The key store was not updated." />
        {action.busy ? <Progress label="Updating the key store…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || changed.length === 0 || credentialHalf}>
            Save changes
          </button>
        </div>
      </form>
    </Dialog>
  );
}
