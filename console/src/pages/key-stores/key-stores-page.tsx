/**
 * Custom key stores: each store's type, connection state (and, when FAILED, the error code and
 * what to do about it), where its keys live; CryptoOfficers create, connect, disconnect, update
 * and delete them. Connecting and disconnecting run in the background on the server, so while a
 * store is CONNECTING or DISCONNECTING the page polls DescribeCustomKeyStores and shows progress.
 */
import { useCallback, useEffect, useRef, useState, type ReactElement } from 'react';
import { Link, useSearchParams } from 'react-router';
import {
  ConnectCustomKeyStoreCommand,
  DeleteCustomKeyStoreCommand,
  DisconnectCustomKeyStoreCommand,
  type CustomKeyStoresListEntry,
} from '@aws-sdk/client-kms';
import type { ConnectionState } from '../../../../src/core/key-stores/model.js';
import { toFailure, type ApiFailure } from '../../api/errors.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { mayEver, useSession } from '../../session/session.js';
import { CreateKeyStoreDialog, UpdateKeyStoreDialog } from './key-store-dialogs.js';
import { connectionHelp, listAllKeyStores, settling, STATE_TEXT } from './key-store-data.js';

/** How often a settling store is asked about. */
const POLL_MS = 1000;

type Pending = { kind: 'disconnect' | 'delete' | 'update'; store: CustomKeyStoresListEntry };

export function ConnectionBadge({ state }: { state: string | undefined }): ReactElement {
  const text = STATE_TEXT[state as ConnectionState] ?? state ?? 'Unknown';
  return <span className={`badge badge-store-${(state ?? 'unknown').toLowerCase()}`}>{text}</span>;
}

function Connection({ store, since }: { store: CustomKeyStoresListEntry; since: number | undefined }): ReactElement {
  const state = store.ConnectionState;
  const help = connectionHelp(store.ConnectionErrorCode);
  return (
    <div className="connection">
      <ConnectionBadge state={state} />
      {settling(state) ? (
        <Progress label={`${state === 'CONNECTING' ? 'Connecting' : 'Disconnecting'}${since ? ` for ${Math.max(0, Math.round((Date.now() - since) / 1000))} s` : ''}…`} />
      ) : null}
      {state === 'FAILED' && store.ConnectionErrorCode ? (
        <p className="small">
          <strong className="mono">{store.ConnectionErrorCode}</strong>
          {help ? `: ${help}` : ''}
        </p>
      ) : null}
    </div>
  );
}

function Where({ store }: { store: CustomKeyStoresListEntry }): ReactElement {
  if (store.CustomKeyStoreType === 'EXTERNAL_KEY_STORE') {
    const proxy = store.XksProxyConfiguration;
    return (
      <dl className="compact">
        <dt>Proxy</dt>
        <dd className="mono small wrap">
          {proxy?.UriEndpoint}
          {proxy?.UriPath}
        </dd>
        <dt>Access key</dt>
        <dd className="mono small">{proxy?.AccessKeyId ?? '—'}</dd>
      </dl>
    );
  }
  return (
    <dl className="compact">
      <dt>Cluster</dt>
      <dd className="mono small">{store.CloudHsmClusterId ?? '—'}</dd>
    </dl>
  );
}

export default function KeyStoresPage(): ReactElement {
  const { kms, identity } = useSession();
  const [params] = useSearchParams();
  const highlighted = params.get('store') ?? undefined;
  const manage = mayEver(identity, 'kms:CreateCustomKeyStore');
  const [stores, setStores] = useState<CustomKeyStoresListEntry[]>();
  const [listError, setListError] = useState<ApiFailure>();
  const [creating, setCreating] = useState(false);
  const [pending, setPending] = useState<Pending>();
  const [note, setNote] = useState<string>();
  const [, setTick] = useState(0);
  /** When each store began to settle, for the elapsed time shown; and the states last seen. */
  const settlingSince = useRef(new Map<string, number>());
  const lastStates = useRef(new Map<string, string | undefined>());
  const action = useAction();

  const load = useCallback(async () => {
    try {
      const list = await listAllKeyStores(kms);
      for (const store of list) {
        const id = store.CustomKeyStoreId!;
        const before = lastStates.current.get(id);
        if (settling(store.ConnectionState) && !settlingSince.current.has(id)) settlingSince.current.set(id, Date.now());
        if (!settling(store.ConnectionState)) settlingSince.current.delete(id);
        if (before !== undefined && settling(before) && !settling(store.ConnectionState))
          setNote(
            `${store.CustomKeyStoreName} is ${STATE_TEXT[store.ConnectionState as ConnectionState] ?? store.ConnectionState}${store.ConnectionErrorCode ? ` (${store.ConnectionErrorCode})` : ''}.`,
          );
        lastStates.current.set(id, store.ConnectionState);
      }
      setStores(list);
      setListError(undefined);
    } catch (error) {
      setListError(toFailure(error));
    }
  }, [kms]);

  useEffect(() => {
    void load();
  }, [load]);

  // Poll while a store is connecting or disconnecting; stop when none is (or the page closes).
  const anySettling = stores?.some((s) => settling(s.ConnectionState)) ?? false;
  useEffect(() => {
    if (!anySettling) return;
    let stopped = false;
    const timer = window.setInterval(() => {
      setTick((t) => t + 1);
      if (!stopped) void load();
    }, POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [anySettling, load]);

  const connect = async (store: CustomKeyStoresListEntry) => {
    setNote(undefined);
    const done = await action.run(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: store.CustomKeyStoreId })));
    if (done) {
      // Announce the outcome even if the store settles before the next read.
      settlingSince.current.set(store.CustomKeyStoreId!, Date.now());
      lastStates.current.set(store.CustomKeyStoreId!, 'CONNECTING');
      await load();
    }
  };
  const confirm = async () => {
    if (!pending) return;
    const { kind, store } = pending;
    const id = store.CustomKeyStoreId!;
    const done = await action.run(() =>
      kind === 'delete' ? kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id })) : kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id })),
    );
    if (done) {
      setPending(undefined);
      if (kind === 'delete') setNote(`${store.CustomKeyStoreName} is deleted.`);
      else {
        settlingSince.current.set(id, Date.now());
        lastStates.current.set(id, 'DISCONNECTING');
      }
      await load();
    }
  };

  return (
    <Page
      title="Custom key stores"
      actions={
        manage ? (
          <button type="button" className="button-primary" onClick={() => setCreating(true)}>
            Create key store
          </button>
        ) : undefined
      }
    >
      <p className="muted">
        Keys in a custom key store live in another token or HSM partition (AWS_CLOUDHSM) or behind an XKS proxy (EXTERNAL_KEY_STORE). While a store
        is disconnected its keys are Unavailable.{manage ? '' : ' Only CryptoOfficers and the account root change key stores.'}
      </p>
      {note ? (
        <p className="alert alert-success" role="status">
          {note}
        </p>
      ) : null}
      {!pending ? <ErrorAlert error={action.error} /> : null}
      <ErrorAlert error={listError} context="The key stores could not be listed." />
      {stores === undefined && !listError ? <Progress label="Listing key stores…" /> : null}
      {stores?.length === 0 ? <p>No custom key stores yet: every key lives in this server’s own HSM token.</p> : null}
      {stores && stores.length > 0 ? (
        <table className="table table-cards" aria-label="Custom key stores">
          <thead>
            <tr>
              <th scope="col">Key store</th>
              <th scope="col">Type</th>
              <th scope="col">Connection</th>
              <th scope="col">Where</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {stores.map((store) => {
              const state = store.ConnectionState;
              const label = store.CustomKeyStoreName ?? store.CustomKeyStoreId!;
              return (
                <tr key={store.CustomKeyStoreId} className={store.CustomKeyStoreId === highlighted ? 'row-highlighted' : undefined}>
                  <th scope="row" data-label="Key store">
                    <div>{label}</div>
                    <div className="mono small muted">{store.CustomKeyStoreId}</div>
                  </th>
                  <td data-label="Type">{store.CustomKeyStoreType}</td>
                  <td data-label="Connection">
                    <Connection store={store} since={settlingSince.current.get(store.CustomKeyStoreId!)} />
                  </td>
                  <td data-label="Where">
                    <Where store={store} />
                  </td>
                  <td data-label="Created">
                    <DateTime value={store.CreationDate} />
                  </td>
                  <td data-label="Actions">
                    <div className="button-row key-actions">
                      <Link to={`/keys?store=${store.CustomKeyStoreId}`}>Keys</Link>
                      {manage && state === 'DISCONNECTED' ? (
                        <button type="button" className="button-small" aria-label={`Connect ${label}`} disabled={action.busy} onClick={() => void connect(store)}>
                          Connect
                        </button>
                      ) : null}
                      {manage && (state === 'CONNECTED' || state === 'CONNECTING' || state === 'FAILED') ? (
                        <button
                          type="button"
                          className="button-small"
                          aria-label={`Disconnect ${label}`}
                          disabled={action.busy}
                          onClick={() => {
                            action.clear();
                            setPending({ kind: 'disconnect', store });
                          }}
                        >
                          Disconnect
                        </button>
                      ) : null}
                      {manage && !settling(state) ? (
                        <button type="button" className="button-small" aria-label={`Update ${label}`} disabled={action.busy} onClick={() => setPending({ kind: 'update', store })}>
                          Update…
                        </button>
                      ) : null}
                      {manage && state === 'DISCONNECTED' ? (
                        <button
                          type="button"
                          className="button-small button-danger-quiet"
                          aria-label={`Delete ${label}`}
                          disabled={action.busy}
                          onClick={() => {
                            action.clear();
                            setPending({ kind: 'delete', store });
                          }}
                        >
                          Delete…
                        </button>
                      ) : null}
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}

      {creating ? (
        <CreateKeyStoreDialog
          onClose={() => setCreating(false)}
          onCreated={(_id, name) => {
            setCreating(false);
            setNote(`${name} is created, DISCONNECTED: connect it to create keys in it.`);
            void load();
          }}
        />
      ) : null}
      {pending?.kind === 'update' ? (
        <UpdateKeyStoreDialog
          store={pending.store}
          onClose={() => setPending(undefined)}
          onUpdated={(what) => {
            setPending(undefined);
            setNote(`${pending.store.CustomKeyStoreName}: updated ${what}.`);
            void load();
          }}
        />
      ) : null}
      {pending?.kind === 'disconnect' ? (
        <ConfirmDialog
          title={`Disconnect ${pending.store.CustomKeyStoreName}?`}
          confirmLabel="Disconnect"
          busyLabel="Disconnecting…"
          busy={action.busy}
          error={action.error}
          danger
          onClose={() => setPending(undefined)}
          onConfirm={() => void confirm()}
        >
          <p>Its keys become Unavailable: every call that uses them fails until the store is connected again. Nothing is deleted.</p>
        </ConfirmDialog>
      ) : null}
      {pending?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete ${pending.store.CustomKeyStoreName}?`}
          confirmLabel="Delete key store"
          busyLabel="Deleting…"
          busy={action.busy}
          error={action.error}
          danger
          onClose={() => setPending(undefined)}
          onConfirm={() => void confirm()}
        >
          <p>
            Only a store without keys can be deleted (delete its keys first; the service answers CustomKeyStoreHasCMKsException otherwise). The token
            or proxy itself is not touched.
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
