/**
 * One key: metadata (with its description editable), aliases, tags, rotation, grants, the key
 * policy editor and "why would this be denied?", and a link to the key's audit events. Each part
 * is read on its own, so a refusal of one (say GetKeyPolicy) shows as that part's error while the
 * rest of the page works. Editing controls are offered unless the role table makes them pointless.
 */
import { useId, useState, type FormEvent, type ReactElement, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { DescribeKeyCommand, UpdateKeyDescriptionCommand, type KeyMetadata } from '@aws-sdk/client-kms';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Part } from '../../components/loaded-part.js';
import { Page, Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { mayEver, useSession } from '../../session/session.js';
import { ExplainPanel } from './explain-panel.js';
import { KeyActions } from './key-actions.js';
import { KeyAliasesSection } from './key-aliases-section.js';
import { listAllAliases } from './key-data.js';
import { KeyGrantsSection } from './key-grants-section.js';
import { KeyPolicySection } from './key-policy-section.js';
import { KeyRotationSection } from './key-rotation-section.js';
import { KeyTagsSection } from './key-tags-section.js';
import { StateBadge } from './keys-page.js';

/** AWS's limit on a key's description. */
const DESCRIPTION_MAX = 8192;

function EditDescriptionDialog({ metadata, onClose, onSaved }: { metadata: KeyMetadata; onClose: () => void; onSaved: () => void }): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const action = useAction();
  const [text, setText] = useState(metadata.Description ?? '');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const done = await action.run(() => kms.send(new UpdateKeyDescriptionCommand({ KeyId: metadata.KeyId!, Description: text })));
    if (done) onSaved();
  };
  return (
    <Dialog title="Edit description" onClose={onClose} busy={action.busy}>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor={`${id}-description`}>Description</label>
          <textarea id={`${id}-description`} rows={4} maxLength={DESCRIPTION_MAX} value={text} onChange={(e) => setText(e.target.value)} autoFocus />
          <p className="hint">What the key is for, for the people who read this list; at most {DESCRIPTION_MAX} characters. Empty clears it.</p>
        </div>
        <ErrorAlert error={action.error} context="The description was not saved." />
        {action.busy ? <Progress label="Saving the description…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || text === (metadata.Description ?? '')}>
            Save description
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Details({ metadata, onEditDescription }: { metadata: KeyMetadata; onEditDescription?: (() => void) | undefined }): ReactElement {
  const algorithms = [...(metadata.EncryptionAlgorithms ?? []), ...(metadata.SigningAlgorithms ?? []), ...(metadata.MacAlgorithms ?? [])];
  const rows: Array<[string, ReactNode]> = [
    ['Key ID', <code>{metadata.KeyId}</code>],
    ['ARN', <code className="wrap">{metadata.Arn}</code>],
    ['State', <StateBadge state={metadata.KeyState} />],
    [
      'Description',
      <>
        {metadata.Description || <span className="muted">—</span>}
        {onEditDescription ? (
          <>
            {' '}
            <button type="button" className="button-small" onClick={onEditDescription} aria-label="Edit description">
              Edit
            </button>
          </>
        ) : null}
      </>,
    ],
    ['Key spec', metadata.KeySpec],
    ['Usage', metadata.KeyUsage],
    ['Origin', metadata.Origin],
    ['Key manager', metadata.KeyManager],
    ['Created', <DateTime value={metadata.CreationDate} />],
    ['Algorithms', algorithms.join(', ') || '—'],
  ];
  if (metadata.CustomKeyStoreId)
    rows.push(['Key store', <Link to={`/key-stores?store=${metadata.CustomKeyStoreId}`}>{metadata.CustomKeyStoreId}</Link>]);
  if (metadata.CloudHsmClusterId) rows.push(['Cluster', <code>{metadata.CloudHsmClusterId}</code>]);
  if (metadata.XksKeyConfiguration?.Id) rows.push(['External key', <code className="wrap">{metadata.XksKeyConfiguration.Id}</code>]);
  if (metadata.DeletionDate) rows.push(['Deletion date', <DateTime value={metadata.DeletionDate} withRelative />]);
  if (metadata.ValidTo) rows.push(['Key material expires', <DateTime value={metadata.ValidTo} withRelative />]);
  if (metadata.MultiRegion) rows.push(['Multi-Region', metadata.MultiRegionConfiguration?.MultiRegionKeyType ?? 'yes']);
  return (
    <dl className="details">
      {rows.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export default function KeyDetailPage(): ReactElement {
  const { keyId = '' } = useParams();
  const { kms, identity } = useSession();
  const [generation, setGeneration] = useState(0);
  const [policyVersion, setPolicyVersion] = useState(0);
  const [editingDescription, setEditingDescription] = useState(false);
  const key = useLoad(async () => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!, [kms, keyId, generation]);
  const aliases = useLoad(() => listAllAliases(kms, keyId), [kms, keyId]);
  const title = aliases.data?.[0]?.AliasName ?? keyId;
  // Key management is `deny` for a caller who is only an Auditor: editing controls would be pointless.
  const manage = mayEver(identity, 'kms:TagResource') && key.data?.KeyManager !== 'AWS';
  const readsAudit = mayEver(identity, 'hsmkms:LookupAuditEvents');

  return (
    <Page title={title}>
      <p className="button-row">
        <Link to="/keys">← All keys</Link>
        {readsAudit ? <Link to={`/audit?key=${encodeURIComponent(keyId)}`}>Audit events for this key</Link> : null}
      </p>
      <nav aria-label="On this page" className="toc">
        <ul>
          {[
            ['details', 'Details'],
            ['aliases', 'Aliases'],
            ['tags', 'Tags'],
            ['rotation', 'Rotation'],
            ['grants', 'Grants'],
            ['policy', 'Key policy'],
            ['explain', 'Why would this be denied?'],
          ].map(([anchor, label]) => (
            <li key={anchor}>
              <a href={`#${anchor}`}>{label}</a>
            </li>
          ))}
        </ul>
      </nav>

      <Section id="details" title="Details">
        <Part loaded={key} what="key">
          {(metadata) => (
            <>
              <Details metadata={metadata} onEditDescription={manage ? () => setEditingDescription(true) : undefined} />
              <KeyActions metadata={metadata} label={title} onChanged={() => setGeneration((g) => g + 1)} />
            </>
          )}
        </Part>
      </Section>
      {editingDescription && key.data ? (
        <EditDescriptionDialog
          metadata={key.data}
          onClose={() => setEditingDescription(false)}
          onSaved={() => {
            setEditingDescription(false);
            setGeneration((g) => g + 1);
          }}
        />
      ) : null}

      <KeyAliasesSection keyId={keyId} aliases={aliases} manage={manage} onChanged={aliases.reload} />
      <KeyTagsSection keyId={keyId} manage={manage} />
      <KeyRotationSection keyId={keyId} manage={manage} metadata={key.data} />
      <KeyGrantsSection keyId={keyId} metadata={key.data} manage={manage} />
      <KeyPolicySection keyId={keyId} onSaved={() => setPolicyVersion((v) => v + 1)} />
      <ExplainPanel keyId={keyId} policyVersion={policyVersion} />
    </Page>
  );
}
