/**
 * Keys: every key the caller may list, described with the caller's rights, filtered in the
 * browser by state, spec, usage, rotation, key store and a search over aliases, ids and
 * descriptions. `?store=ID` (or `default`) opens the list filtered to one key store.
 */
import { useCallback, useEffect, useId, useMemo, useState, type ReactElement } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { CustomKeyStoresListEntry, KeyMetadata } from '@aws-sdk/client-kms';
import { KEY_SPECS, KEY_STATES, KEY_USAGES } from '../../../../src/core/model.js';
import type { ApiFailure } from '../../api/errors.js';
import { toFailure } from '../../api/errors.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { listAllKeyStores, storeLabel } from '../key-stores/key-store-data.js';
import { CreateKeyDialog } from './create-key-dialog.js';
import { KeyActions } from './key-actions.js';
import { describeRow, keyLabel, loadKeyPage, type KeyRow } from './key-data.js';

interface Filters {
  search: string;
  state: string;
  spec: string;
  usage: string;
  rotation: '' | 'on' | 'off' | 'n/a';
  /** A custom key store id, or `default` for this server's own token. */
  store: string;
}
const NO_FILTERS: Filters = { search: '', state: '', spec: '', usage: '', rotation: '', store: '' };
const DEFAULT_STORE = 'default';

function matches(row: KeyRow, f: Filters): boolean {
  const m = row.metadata;
  if (f.state && m?.KeyState !== f.state) return false;
  if (f.spec && m?.KeySpec !== f.spec) return false;
  if (f.usage && m?.KeyUsage !== f.usage) return false;
  if (f.rotation === 'on' && row.rotation !== true) return false;
  if (f.rotation === 'off' && row.rotation !== false) return false;
  if (f.rotation === 'n/a' && row.rotation !== 'n/a') return false;
  if (f.store === DEFAULT_STORE && (!m || m.CustomKeyStoreId)) return false;
  if (f.store && f.store !== DEFAULT_STORE && m?.CustomKeyStoreId !== f.store) return false;
  const search = f.search.trim().toLowerCase();
  if (search && ![row.keyId, ...row.aliases, m?.Description ?? ''].some((s) => s.toLowerCase().includes(search))) return false;
  return true;
}

/** A labelled select whose first choice, "Any", filters nothing. */
function FilterSelect({ label, value, onChange, options }: { label: string; value: string; onChange: (value: string) => void; options: ReadonlyArray<string | readonly [string, string]> }): ReactElement {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Any</option>
        {options.map((option) => {
          const [v, text] = typeof option === 'string' ? [option, option] : option;
          return (
            <option key={v} value={v}>
              {text}
            </option>
          );
        })}
      </select>
    </div>
  );
}

export function StateBadge({ state }: { state: string | undefined }): ReactElement {
  return <span className={`badge badge-${(state ?? 'unknown').toLowerCase()}`}>{state ?? 'Unknown'}</span>;
}

function Rotation({ value }: { value: KeyRow['rotation'] }): ReactElement {
  if (value === true) return <span>On</span>;
  if (value === false) return <span>Off</span>;
  if (value === 'n/a' || value === undefined) return <span className="muted">Not applicable</span>;
  return <span className="muted" title={`${value.name}: ${value.message}`}>Not readable ({value.name})</span>;
}

function KeyStore({ metadata, stores }: { metadata: KeyMetadata | undefined; stores: CustomKeyStoresListEntry[] | undefined }): ReactElement {
  if (!metadata) return <span className="muted">—</span>;
  if (!metadata.CustomKeyStoreId) return <span>Default</span>;
  return <Link to={`/key-stores?store=${metadata.CustomKeyStoreId}`}>{storeLabel(stores, metadata.CustomKeyStoreId)}</Link>;
}

function Refused({ error }: { error: ApiFailure }): ReactElement {
  return (
    <span className="muted">
      Not readable: <strong>{error.name}</strong>
    </span>
  );
}

export default function KeysPage(): ReactElement {
  const { kms } = useSession();
  const id = useId();
  const [params] = useSearchParams();
  // Names for the key store column and filter; a caller who may not describe stores sees their ids.
  const stores = useLoad(() => listAllKeyStores(kms), [kms]);
  const [rows, setRows] = useState<KeyRow[]>([]);
  const [nextMarker, setNextMarker] = useState<string>();
  const [loading, setLoading] = useState<{ done: number; total: number } | undefined>({ done: 0, total: 0 });
  const [error, setError] = useState<ApiFailure>();
  const [filters, setFilters] = useState<Filters>(() => ({ ...NO_FILTERS, store: params.get('store') ?? '' }));
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ metadata: KeyMetadata; alias?: string | undefined }>();

  const load = useCallback(
    async (marker?: string) => {
      setError(undefined);
      setLoading({ done: 0, total: 0 });
      try {
        const page = await loadKeyPage(kms, marker, (done, total) => setLoading({ done, total }));
        setRows((previous) => (marker ? [...previous, ...page.rows] : page.rows));
        setNextMarker(page.nextMarker);
      } catch (thrown) {
        setError(toFailure(thrown));
      } finally {
        setLoading(undefined);
      }
    },
    [kms],
  );
  useEffect(() => {
    void load();
  }, [load]);

  const refreshRow = useCallback(
    async (row: KeyRow) => {
      const updated = await describeRow(kms, row);
      setRows((previous) => previous.map((r) => (r.keyId === row.keyId ? updated : r)));
    },
    [kms],
  );

  const shown = useMemo(() => rows.filter((r) => matches(r, filters)), [rows, filters]);
  const set = <K extends keyof Filters>(name: K, value: Filters[K]) => setFilters((f) => ({ ...f, [name]: value }));
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);

  return (
    <Page
      title="Keys"
      actions={
        <button type="button" className="button-primary" onClick={() => setCreating(true)}>
          Create key
        </button>
      }
    >
      {created ? (
        <div className="alert alert-success" role="status">
          Created <Link to={`/keys/${created.metadata.KeyId}`}>{created.alias ?? created.metadata.KeyId}</Link>.
        </div>
      ) : null}
      <form className="filters" role="search" aria-label="Filter keys" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor={`${id}-search`}>Alias, id or description</label>
          <input id={`${id}-search`} type="search" value={filters.search} onChange={(e) => set('search', e.target.value)} />
        </div>
        <FilterSelect label="State" value={filters.state} onChange={(v) => set('state', v)} options={KEY_STATES} />
        <FilterSelect label="Key spec" value={filters.spec} onChange={(v) => set('spec', v)} options={KEY_SPECS} />
        <FilterSelect label="Usage" value={filters.usage} onChange={(v) => set('usage', v)} options={KEY_USAGES} />
        <FilterSelect
          label="Automatic rotation"
          value={filters.rotation}
          onChange={(v) => set('rotation', v as Filters['rotation'])}
          options={[
            ['on', 'On'],
            ['off', 'Off'],
            ['n/a', 'Not applicable'],
          ]}
        />
        <FilterSelect
          label="Key store"
          value={filters.store}
          onChange={(v) => set('store', v)}
          options={[
            [DEFAULT_STORE, 'Default (this server’s token)'],
            ...[...new Set([...(stores.data ?? []).map((s) => s.CustomKeyStoreId!), ...(filters.store && filters.store !== DEFAULT_STORE ? [filters.store] : [])])].map(
              (storeId) => [storeId, storeLabel(stores.data, storeId)] as const,
            ),
          ]}
        />
        {filtered ? (
          <button type="button" className="button-small filters-clear" onClick={() => setFilters(NO_FILTERS)}>
            Clear filters
          </button>
        ) : null}
      </form>

      <ErrorAlert error={error} context="The keys could not be listed." />
      {loading ? (
        <Progress
          label={loading.total === 0 ? 'Listing keys…' : `Describing keys: ${loading.done} of ${loading.total}`}
          {...(loading.total > 0 ? { value: loading.done, max: loading.total } : {})}
        />
      ) : null}
      <p className="muted" role="status" aria-live="polite">
        {loading ? '' : `Showing ${shown.length} of ${rows.length} key${rows.length === 1 ? '' : 's'}${nextMarker ? ' (more to load)' : ''}.`}
      </p>

      {shown.length > 0 ? (
        <table className="table table-cards" aria-label="Keys">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Description</th>
              <th scope="col">State</th>
              <th scope="col">Key spec</th>
              <th scope="col">Usage</th>
              <th scope="col">Rotation</th>
              <th scope="col">Key store</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((row) => (
              <tr key={row.keyId}>
                <th scope="row" data-label="Key">
                  <Link to={`/keys/${row.keyId}`}>{keyLabel(row)}</Link>
                  {row.aliases.length > 0 ? <div className="mono small muted">{row.keyId}</div> : null}
                </th>
                <td data-label="Description">{row.describeError ? <Refused error={row.describeError} /> : row.metadata?.Description || <span className="muted">—</span>}</td>
                <td data-label="State">
                  <StateBadge state={row.metadata?.KeyState} />
                </td>
                <td data-label="Key spec">{row.metadata?.KeySpec ?? '—'}</td>
                <td data-label="Usage">{row.metadata?.KeyUsage ?? '—'}</td>
                <td data-label="Rotation">
                  <Rotation value={row.rotation} />
                </td>
                <td data-label="Key store">
                  <KeyStore metadata={row.metadata} stores={stores.data} />
                </td>
                <td data-label="Created">
                  <DateTime value={row.metadata?.CreationDate} />
                </td>
                <td data-label="Actions">{row.metadata ? <KeyActions metadata={row.metadata} label={keyLabel(row)} onChanged={() => void refreshRow(row)} /> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : !loading && !error ? (
        <p>{rows.length === 0 ? 'No keys yet.' : 'No key matches these filters.'}</p>
      ) : null}
      {nextMarker && !loading ? (
        <button type="button" onClick={() => void load(nextMarker)}>
          Load more keys
        </button>
      ) : null}

      {creating ? (
        <CreateKeyDialog
          stores={stores.data}
          onClose={() => {
            setCreating(false);
            void load();
          }}
          onCreated={(metadata, alias) => {
            setCreating(false);
            setCreated({ metadata, alias });
            void load();
          }}
        />
      ) : null}
    </Page>
  );
}
