/**
 * The audit viewer: the trail's events, newest first, filtered like CloudTrail's LookupEvents
 * (time range, event name, principal, key, error code) and paged; each event's full record and
 * where it stands in its node's verified chain; and the chain verification per node. Filters
 * live in the URL (`?key=…`), so a key's page links straight to its events.
 */
import { useEffect, useId, useState, type FormEvent, type ReactElement } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ROLE_TABLE } from '../../../../src/core/authorization/role-table.js';
import { printableJson } from '../../../../src/core/caller-text.js';
import { toFailure, type ApiFailure } from '../../api/errors.js';
import type { AuditEvent, AuditLookupAttribute, AuditVerification, HsmKmsOperations } from '../../api/hsmkms-api.js';
import { Dialog } from '../../components/dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page, Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { AuditVerificationSection, recordStanding } from './audit-verification.js';

/** The filters, as URL parameters; times in epoch seconds. */
const FILTERS = { from: 'from', to: 'to', event: 'event', principal: 'principal', key: 'key', error: 'error' } as const;
type FilterName = keyof typeof FILTERS;
type Filters = Record<FilterName, string>;

const ATTRIBUTE: Partial<Record<FilterName, AuditLookupAttribute>> = { event: 'EventName', principal: 'Username', key: 'ResourceName', error: 'ErrorCode' };
const PAGE_SIZE = 50;

/** Event names as the trail writes them, from the server's role table: `Encrypt`, `HsmKms.CreatePrincipal`. */
const EVENT_NAMES = [...new Set([...ROLE_TABLE.keys()].map((action) => (action.startsWith('kms:') ? action.slice(4) : `HsmKms.${action.slice(action.indexOf(':') + 1)}`)))].sort();
/** The trail writes a refused call as CloudTrail does: errorCode `AccessDenied`, other errors by their exception name. */
const ERROR_CODES = ['AccessDenied', 'QuorumApprovalRequiredException', 'NotFoundException', 'KMSInvalidStateException', 'DisabledException', 'ValidationException', 'InvalidCiphertextException'];
/** What people type after seeing the exception name elsewhere in the console → the trail's spelling. */
function trailErrorCode(code: string): string {
  return code === 'AccessDeniedException' ? 'AccessDenied' : code;
}

/** epoch seconds ⇄ the value of a datetime-local input (the reader's own time zone). */
function toLocalInput(seconds: string): string {
  if (!seconds) return '';
  const d = new Date(Number(seconds) * 1000);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fromLocalInput(value: string): string {
  if (!value) return '';
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? '' : String(Math.floor(time / 1000));
}

function readFilters(params: URLSearchParams): Filters {
  const out = {} as Filters;
  for (const name of Object.keys(FILTERS) as FilterName[]) out[name] = params.get(FILTERS[name]) ?? '';
  return out;
}

type LookupInput = HsmKmsOperations['LookupAuditEvents']['input'];

function lookupInput(filters: Filters): LookupInput {
  const attributes = (Object.keys(ATTRIBUTE) as FilterName[])
    .filter((name) => filters[name].trim() !== '')
    .map((name) => ({ AttributeKey: ATTRIBUTE[name]!, AttributeValue: name === 'error' ? trailErrorCode(filters[name].trim()) : filters[name].trim() }));
  return {
    MaxResults: PAGE_SIZE,
    ...(filters.from ? { StartTime: Number(filters.from) } : {}),
    ...(filters.to ? { EndTime: Number(filters.to) } : {}),
    ...(attributes.length > 0 ? { LookupAttributes: attributes } : {}),
  };
}

/** `<nodeId>:<sequence>` → its parts. */
function chainPosition(eventId: string): { nodeId: string; sequence: number } {
  const colon = eventId.lastIndexOf(':');
  return { nodeId: eventId.slice(0, colon), sequence: Number(eventId.slice(colon + 1)) };
}

/** The key the call was given (KeyId, or CreateAlias's TargetKeyId), from the stored record: the trail's resources hold ARNs only. */
function requestedKey(event: AuditEvent): string | undefined {
  try {
    const record = JSON.parse(event.CloudTrailEvent) as { requestParameters?: Record<string, unknown> };
    const keyId = record.requestParameters?.KeyId ?? record.requestParameters?.TargetKeyId;
    return typeof keyId === 'string' ? keyId : undefined;
  } catch {
    return undefined;
  }
}

const KEY_ID = /^(?:arn:[^:]+:kms:[^:]*:[^:]*:key\/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function keyLink(event: AuditEvent): ReactElement | null {
  const named = event.Resources.find((r) => r.ResourceType === 'AWS::KMS::Key')?.ResourceName ?? requestedKey(event);
  const keyId = named === undefined ? undefined : KEY_ID.exec(named)?.[1];
  if (keyId)
    return (
      <Link to={`/keys/${keyId}`} className="mono small">
        {keyId}
      </Link>
    );
  const shown = named ?? event.Resources[0]?.ResourceName;
  return shown ? <span className="mono small wrap">{shown}</span> : null;
}

function Standing({ verification, event }: { verification: AuditVerification | undefined; event: AuditEvent }): ReactElement {
  const { nodeId, sequence } = chainPosition(event.EventId);
  const standing = recordStanding(verification, nodeId, sequence);
  switch (standing.kind) {
    case 'signed':
      return (
        <p className="status-ok">
          <span aria-hidden="true">✓ </span>Chained and vouched for by a signed digest (node {nodeId} is verified up to sequence {standing.signedThrough}).
        </p>
      );
    case 'unsigned':
      return (
        <p className="status-warn">
          Chained, not yet covered by a digest{standing.signedThrough !== undefined ? ` (node ${nodeId} is signed up to sequence ${standing.signedThrough})` : ''}: the next digest
          will sign it.
        </p>
      );
    case 'problem':
      return (
        <div className="alert alert-error">
          {standing.findings.map((f, i) => (
            <p key={i}>
              <strong>{f.Kind}</strong>: {f.Message}
            </p>
          ))}
        </div>
      );
    default:
      return <p className="muted">Outside the range last verified; verify a range that includes it to see its standing.</p>;
  }
}

function EventDialog({ event, verification, onClose }: { event: AuditEvent; verification: AuditVerification | undefined; onClose: () => void }): ReactElement {
  const { nodeId, sequence } = chainPosition(event.EventId);
  let record: string;
  try {
    record = printableJson(JSON.stringify(JSON.parse(event.CloudTrailEvent), null, 2));
  } catch {
    record = printableJson(event.CloudTrailEvent);
  }
  return (
    <Dialog title={`${event.EventName} by ${event.Username}`} onClose={onClose} wide>
      <dl className="details">
        <div>
          <dt>Time</dt>
          <dd>
            <DateTime value={event.EventTime} precise />
          </dd>
        </div>
        <div>
          <dt>Outcome</dt>
          <dd>{event.ErrorCode ? <strong className="status-error">{event.ErrorCode}</strong> : <span className="status-ok">Succeeded</span>}</dd>
        </div>
        <div>
          <dt>Principal</dt>
          <dd className="wrap">{event.PrincipalArn}</dd>
        </div>
        <div>
          <dt>Place in the chain</dt>
          <dd>
            node <code>{nodeId}</code>, sequence {sequence}
          </dd>
        </div>
      </dl>
      <Standing verification={verification} event={event} />
      <h3>Full record</h3>
      <pre className="code audit-record" tabIndex={0} aria-label="The record as stored">
        {record}
      </pre>
      <div className="dialog-actions">
        <button type="button" className="button-primary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

export default function AuditPage(): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const [params, setParams] = useSearchParams();
  const applied = readFilters(params);
  const [draft, setDraft] = useState<Filters>(applied);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [nextToken, setNextToken] = useState<string>();
  const [searching, setSearching] = useState(false);
  const [searchError, setSearchError] = useState<ApiFailure>();
  const [shown, setShown] = useState<AuditEvent>();
  const [verification, setVerification] = useState<AuditVerification>();
  const verifying = useAction();
  const appliedKey = params.toString();

  /** Verifies the search's time range, or the service's default (the last 24 hours). */
  const verify = async () => {
    const answer = await verifying.run(() =>
      hsmkms.call('VerifyAuditTrail', { ...(applied.from ? { From: Number(applied.from) } : {}), ...(applied.to ? { To: Number(applied.to) } : {}) }),
    );
    if (answer) setVerification(answer);
  };
  useEffect(() => {
    void verify();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once, on arrival; then on request
  }, [hsmkms]);

  const search = async (token: string | undefined) => {
    setSearching(true);
    setSearchError(undefined);
    // A new search's answer replaces the list: no stale rows under the new filters meanwhile.
    if (!token) {
      setEvents([]);
      setNextToken(undefined);
    }
    try {
      const answer = await hsmkms.call('LookupAuditEvents', { ...lookupInput(readFilters(params)), ...(token ? { NextToken: token } : {}) });
      setEvents((previous) => (token ? [...previous, ...answer.Events] : answer.Events));
      setNextToken(answer.NextToken);
    } catch (error) {
      setSearchError(toFailure(error));
    } finally {
      setSearching(false);
    }
  };

  useEffect(() => {
    setDraft(readFilters(params));
    void search(undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the URL's filters are the input
  }, [hsmkms, appliedKey]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const name of Object.keys(FILTERS) as FilterName[]) if (draft[name].trim() !== '') next.set(FILTERS[name], draft[name].trim());
    setParams(next);
  };
  const set = (name: FilterName, value: string) => setDraft((d) => ({ ...d, [name]: value }));
  const anyFilter = Object.values(applied).some((v) => v !== '');

  return (
    <Page title="Audit trail">
      <AuditVerificationSection verification={verification} busy={verifying.busy} error={verifying.error} onVerify={() => void verify()} />

      <form className="filters audit-filters" role="search" aria-label="Filter audit events" onSubmit={submit}>
        <div className="field">
          <label htmlFor={`${id}-from`}>From</label>
          <input id={`${id}-from`} type="datetime-local" step={1} value={toLocalInput(draft.from)} onChange={(e) => set('from', fromLocalInput(e.target.value))} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-to`}>To</label>
          <input id={`${id}-to`} type="datetime-local" step={1} value={toLocalInput(draft.to)} onChange={(e) => set('to', fromLocalInput(e.target.value))} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-event`}>Event name</label>
          <input id={`${id}-event`} list={`${id}-events`} value={draft.event} onChange={(e) => set('event', e.target.value)} autoComplete="off" spellCheck={false} />
          <datalist id={`${id}-events`}>
            {EVENT_NAMES.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor={`${id}-principal`}>Principal (user name or ARN)</label>
          <input id={`${id}-principal`} value={draft.principal} onChange={(e) => set('principal', e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-key`}>Key (id, ARN or alias)</label>
          <input id={`${id}-key`} value={draft.key} onChange={(e) => set('key', e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-error`}>Error code</label>
          <input id={`${id}-error`} list={`${id}-errors`} value={draft.error} onChange={(e) => set('error', e.target.value)} autoComplete="off" spellCheck={false} />
          <datalist id={`${id}-errors`}>
            {ERROR_CODES.map((code) => (
              <option key={code} value={code} />
            ))}
          </datalist>
        </div>
        <div className="button-row filters-buttons">
          <button type="submit" className="button-primary" disabled={searching}>
            Search
          </button>
          {anyFilter ? (
            <button type="button" onClick={() => setParams(new URLSearchParams())}>
              Clear filters
            </button>
          ) : null}
        </div>
      </form>

      <Section id="events" title="Events">
        <ErrorAlert error={searchError} context="The audit events could not be read." />
        {searching ? <Progress label="Searching the audit trail…" /> : null}
        <p className="muted" role="status" aria-live="polite">
          {searching ? '' : `${events.length} event${events.length === 1 ? '' : 's'}${nextToken ? ' so far (older ones may match: load more)' : ''}, newest first.`}
        </p>
        {events.length > 0 ? (
          <table className="table table-cards" aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Principal</th>
                <th scope="col">Key</th>
                <th scope="col">Outcome</th>
                <th scope="col">Record</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.EventId} className={event.ErrorCode ? 'row-problem' : undefined}>
                  <td data-label="Time">
                    <DateTime value={event.EventTime} precise />
                  </td>
                  <th scope="row" data-label="Event">
                    {event.EventName}
                  </th>
                  <td data-label="Principal" className="wrap">
                    {event.Username}
                  </td>
                  <td data-label="Key">{keyLink(event) ?? <span className="muted">—</span>}</td>
                  <td data-label="Outcome">{event.ErrorCode ? <strong className="status-error">{event.ErrorCode}</strong> : <span className="status-ok">OK</span>}</td>
                  <td data-label="Record">
                    <button type="button" className="button-small" aria-label={`Show the record of ${event.EventName} at ${event.EventId}`} onClick={() => setShown(event)}>
                      {event.EventId}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : !searching && !searchError ? (
          <p>{anyFilter ? 'No event matches these filters.' : 'No events yet.'}</p>
        ) : null}
        {nextToken && !searching ? (
          <button type="button" onClick={() => void search(nextToken)}>
            Load older events
          </button>
        ) : null}
      </Section>

      {shown ? <EventDialog event={shown} verification={verification} onClose={() => setShown(undefined)} /> : null}
    </Page>
  );
}
