/**
 * One key: metadata, aliases, tags, rotation, grants, the key policy editor and "why would this
 * be denied?". Each part is read on its own, so a refusal of one (say GetKeyPolicy) shows as that
 * part's error while the rest of the page works.
 */
import { useState, type ReactElement, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import {
  DescribeKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  ListGrantsCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page, Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad, type Loaded } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { ExplainPanel } from './explain-panel.js';
import { KeyActions } from './key-actions.js';
import { listAllAliases, rotatable } from './key-data.js';
import { KeyPolicySection } from './key-policy-section.js';
import { StateBadge } from './keys-page.js';

/** Renders a loaded part: progress, the refusal, or the content. */
function Part<T>({ loaded, what, children }: { loaded: Loaded<T>; what: string; children: (data: T) => ReactNode }): ReactElement {
  if (loaded.status === 'loading') return <Progress label={`Loading ${what}…`} />;
  if (loaded.status === 'error') return <ErrorAlert error={loaded.error} context={`The ${what} could not be read.`} />;
  return <>{children(loaded.data)}</>;
}

function Details({ metadata }: { metadata: KeyMetadata }): ReactElement {
  const algorithms = [...(metadata.EncryptionAlgorithms ?? []), ...(metadata.SigningAlgorithms ?? []), ...(metadata.MacAlgorithms ?? [])];
  const rows: Array<[string, ReactNode]> = [
    ['Key ID', <code>{metadata.KeyId}</code>],
    ['ARN', <code className="wrap">{metadata.Arn}</code>],
    ['State', <StateBadge state={metadata.KeyState} />],
    ['Description', metadata.Description || <span className="muted">—</span>],
    ['Key spec', metadata.KeySpec],
    ['Usage', metadata.KeyUsage],
    ['Origin', metadata.Origin],
    ['Key manager', metadata.KeyManager],
    ['Created', <DateTime value={metadata.CreationDate} />],
    ['Algorithms', algorithms.join(', ') || '—'],
  ];
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

function RotationPart({ keyId, metadata }: { keyId: string; metadata: KeyMetadata }): ReactElement {
  const { kms } = useSession();
  const action = useAction();
  const applies = rotatable(metadata);
  const status = useLoad(async () => (applies ? kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId })) : undefined), [kms, keyId, applies]);
  const history = useLoad(async () => (applies ? (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, Limit: 100 }))).Rotations ?? [] : []), [kms, keyId, applies]);
  if (!applies) return <p className="muted">Automatic rotation applies to symmetric encryption keys whose material the HSM generated.</p>;
  const toggle = async (enable: boolean) => {
    const done = await action.run(() => kms.send(enable ? new EnableKeyRotationCommand({ KeyId: keyId }) : new DisableKeyRotationCommand({ KeyId: keyId })));
    if (done) status.reload();
  };
  return (
    <>
      <Part loaded={status} what="rotation status">
        {(s) => (
          <div className="rotation">
            <p>
              Automatic rotation is <strong>{s?.KeyRotationEnabled ? 'on' : 'off'}</strong>
              {s?.KeyRotationEnabled && s.RotationPeriodInDays ? `, every ${s.RotationPeriodInDays} days` : ''}
              {s?.NextRotationDate ? (
                <>
                  ; next rotation <DateTime value={s.NextRotationDate} withRelative />
                </>
              ) : null}
              .
            </p>
            <button type="button" className="button-small" disabled={action.busy} onClick={() => void toggle(!s?.KeyRotationEnabled)}>
              {s?.KeyRotationEnabled ? 'Turn automatic rotation off' : 'Turn automatic rotation on'}
            </button>
            {action.busy ? <Progress label="Updating rotation…" /> : null}
            <ErrorAlert error={action.error} />
          </div>
        )}
      </Part>
      <Part loaded={history} what="rotations">
        {(rotations) =>
          rotations.length === 0 ? (
            <p className="muted">The key has not been rotated yet.</p>
          ) : (
            <table className="table" aria-label="Rotations">
              <thead>
                <tr>
                  <th scope="col">Rotated</th>
                  <th scope="col">Type</th>
                  <th scope="col">Key material</th>
                </tr>
              </thead>
              <tbody>
                {rotations.map((r, i) => (
                  <tr key={`${r.KeyMaterialId ?? i}`}>
                    <td>
                      <DateTime value={r.RotationDate} />
                    </td>
                    <td>{r.RotationType}</td>
                    <td className="mono small">{r.KeyMaterialId ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Part>
    </>
  );
}

export default function KeyDetailPage(): ReactElement {
  const { keyId = '' } = useParams();
  const { kms } = useSession();
  const [generation, setGeneration] = useState(0);
  const [policyVersion, setPolicyVersion] = useState(0);
  const key = useLoad(async () => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!, [kms, keyId, generation]);
  const aliases = useLoad(() => listAllAliases(kms, keyId), [kms, keyId]);
  const tags = useLoad(async () => (await kms.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: 50 }))).Tags ?? [], [kms, keyId]);
  const grants = useLoad(async () => (await kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100 }))).Grants ?? [], [kms, keyId]);
  const title = aliases.data?.[0]?.AliasName ?? keyId;

  return (
    <Page title={title}>
      <p>
        <Link to="/keys">← All keys</Link>
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
              <Details metadata={metadata} />
              <KeyActions metadata={metadata} label={title} onChanged={() => setGeneration((g) => g + 1)} />
            </>
          )}
        </Part>
      </Section>

      <Section id="aliases" title="Aliases">
        <Part loaded={aliases} what="aliases">
          {(list) =>
            list.length === 0 ? (
              <p className="muted">No alias points to this key.</p>
            ) : (
              <ul className="plain-list">
                {list.map((a) => (
                  <li key={a.AliasName}>
                    <code>{a.AliasName}</code>
                  </li>
                ))}
              </ul>
            )
          }
        </Part>
      </Section>

      <Section id="tags" title="Tags">
        <Part loaded={tags} what="tags">
          {(list) =>
            list.length === 0 ? (
              <p className="muted">No tags.</p>
            ) : (
              <table className="table" aria-label="Tags">
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((t) => (
                    <tr key={t.TagKey}>
                      <td>{t.TagKey}</td>
                      <td>{t.TagValue}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Part>
      </Section>

      <Section id="rotation" title="Rotation">
        <Part loaded={key} what="key">
          {(metadata) => <RotationPart keyId={keyId} metadata={metadata} />}
        </Part>
      </Section>

      <Section id="grants" title="Grants">
        <Part loaded={grants} what="grants">
          {(list) =>
            list.length === 0 ? (
              <p className="muted">No grants.</p>
            ) : (
              <table className="table table-cards" aria-label="Grants">
                <thead>
                  <tr>
                    <th scope="col">Grant</th>
                    <th scope="col">Grantee</th>
                    <th scope="col">Operations</th>
                    <th scope="col">Constraints</th>
                    <th scope="col">Retiring principal</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((g) => (
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
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </Part>
      </Section>

      <KeyPolicySection keyId={keyId} onSaved={() => setPolicyVersion((v) => v + 1)} />
      <ExplainPanel keyId={keyId} policyVersion={policyVersion} />
    </Page>
  );
}
