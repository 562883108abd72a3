/**
 * The quorum approvals inbox: requests the caller may see (its own, those it may approve, all of
 * them for officers and auditors), approved or rejected with the caller's own credentials.
 */
import { useId, useState, type ReactElement } from 'react';
import { Link, useSearchParams } from 'react-router';
import { printableJson } from '../../../../src/core/caller-text.js';
import { APPROVAL_STATUSES, type ApprovalRequest, type ApprovalStatus } from '../../api/hsmkms-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Page } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

type Vote = { request: ApprovalRequest; decision: 'Approve' | 'Reject' };

function keyLink(arn: string | undefined): ReactElement | null {
  if (!arn) return null;
  const keyId = arn.slice(arn.lastIndexOf('/') + 1);
  return <Link to={`/keys/${keyId}`}>{keyId}</Link>;
}

function RequestCard({ request, me, highlighted, onVote }: { request: ApprovalRequest; me: string; highlighted: boolean; onVote: (vote: Vote) => void }): ReactElement {
  const headingId = useId();
  const mine = request.Requester === me;
  const approver = request.Rules.some((r) => r.Approvers.includes(me));
  const voted = request.Votes.find((v) => v.Approver === me);
  const open = request.Status === 'Pending' || request.Status === 'Approved';
  return (
    <article className={highlighted ? 'card card-highlighted' : 'card'} aria-labelledby={headingId}>
      <h2 id={headingId} className="card-title">
        {request.Operation} <span className={`badge badge-${request.Status.toLowerCase()}`}>{request.Status}</span>
      </h2>
      <dl className="details">
        <div>
          <dt>Request</dt>
          <dd className="mono">{request.ApprovalRequestId}</dd>
        </div>
        <div>
          <dt>Requested by</dt>
          <dd className="wrap">
            {request.Requester}
            {mine ? ' (you)' : ''}
          </dd>
        </div>
        <div>
          <dt>Action</dt>
          <dd className="mono">{request.Action}</dd>
        </div>
        {request.KeyId ? (
          <div>
            <dt>{(request.HashedKeyArns?.length ?? 1) > 1 ? 'Keys' : 'Key'}</dt>
            <dd>
              {(request.HashedKeyArns ?? [request.KeyId]).map((arn, i) => (
                <span key={arn}>
                  {i > 0 ? ', ' : null}
                  {keyLink(arn)}
                </span>
              ))}
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Requested</dt>
          <dd>
            <DateTime value={request.CreationDate} withRelative />
          </dd>
        </div>
        <div>
          <dt>{open ? 'Expires' : 'Expired'}</dt>
          <dd>
            <DateTime value={request.ExpirationDate} withRelative />
          </dd>
        </div>
      </dl>
      <details>
        <summary>Parameters of the call</summary>
        {/* The requester chose these values: a bidirectional override in one would reorder what the approver reads. */}
        <pre className="code">{printableJson(JSON.stringify(request.Parameters, null, 2))}</pre>
        {request.WithheldParameters?.length ? (
          <p className="small">
            Not shown, but covered by the approval: <code>{request.WithheldParameters.join(', ')}</code>. Ask the requester for the request it will send and
            check it with <code>hsmkms quorum get {request.ApprovalRequestId} --call FILE</code>.
          </p>
        ) : null}
        <p className="muted small">
          Parameter hash <code>{request.ParametersHash}</code>: only this exact call can use the approval.
        </p>
      </details>
      <ul className="plain-list rules">
        {request.Rules.map((rule) => (
          <li key={rule.RuleId}>
            <div>
              Rule <code>{rule.RuleId}</code>: {rule.Approvals.length} of {rule.MinApprovals} approvals
            </div>
            <progress max={rule.MinApprovals} value={Math.min(rule.Approvals.length, rule.MinApprovals)} aria-label={`Rule ${rule.RuleId}: ${rule.Approvals.length} of ${rule.MinApprovals} approvals`} />
            <div className="muted small">Approvers: {rule.Approvers.map((a) => a.slice(a.lastIndexOf('/') + 1)).join(', ')}</div>
          </li>
        ))}
      </ul>
      {request.Votes.length > 0 ? (
        <ul className="plain-list small">
          {request.Votes.map((v) => (
            <li key={v.Approver}>
              {v.Approver.slice(v.Approver.lastIndexOf('/') + 1)}: {v.Decision === 'Approve' ? 'approved' : 'rejected'} <DateTime value={v.Date} />
            </li>
          ))}
        </ul>
      ) : null}
      {open ? (
        <div className="button-row">
          {approver && !mine && !voted && request.Status === 'Pending' ? (
            <button type="button" className="button-primary" onClick={() => onVote({ request, decision: 'Approve' })}>
              Approve
            </button>
          ) : null}
          {(approver && !voted) || mine ? (
            <button type="button" className="button-danger-quiet" onClick={() => onVote({ request, decision: 'Reject' })}>
              {mine ? 'Withdraw' : 'Reject'}
            </button>
          ) : null}
          {mine && request.Status === 'Approved' ? <p className="status-ok">Approved: repeat the same call now; it succeeds once.</p> : null}
          {mine && request.Status === 'Pending' ? <p className="muted">Waiting for other approvers: you cannot approve your own request.</p> : null}
          {voted ? <p className="muted">You {voted.Decision === 'Approve' ? 'approved' : 'rejected'} this request.</p> : null}
        </div>
      ) : null}
    </article>
  );
}

export default function ApprovalsPage(): ReactElement {
  const { hsmkms, identity } = useSession();
  const id = useId();
  const [params, setParams] = useSearchParams();
  const status = (params.get('status') ?? 'Pending') as ApprovalStatus | 'All';
  const highlighted = params.get('request') ?? undefined;
  const list = useLoad(
    async () => (await hsmkms.call('ListApprovalRequests', { Limit: 100, ...(status === 'All' ? {} : { Status: status }) })).ApprovalRequests,
    [hsmkms, status],
  );
  const [vote, setVote] = useState<Vote>();
  const [done, setDone] = useState<string>();
  const action = useAction();

  const cast = async () => {
    if (!vote) return;
    const answer = await action.run(() => hsmkms.call(vote.decision === 'Approve' ? 'ApproveRequest' : 'RejectRequest', { ApprovalRequestId: vote.request.ApprovalRequestId }));
    if (answer) {
      setDone(`${vote.decision === 'Approve' ? 'Approved' : 'Rejected'} ${vote.request.ApprovalRequestId}: it is now ${answer.ApprovalRequest.Status}.`);
      setVote(undefined);
      list.reload();
    }
  };

  return (
    <Page title="Approvals">
      <p className="muted">Quorum rules make some calls wait for M of N approvers. Approve or reject here, with your own credentials.</p>
      <div className="filters">
        <div className="field">
          <label htmlFor={`${id}-status`}>Status</label>
          <select
            id={`${id}-status`}
            value={status}
            onChange={(e) => {
              const next = new URLSearchParams(params);
              next.set('status', e.target.value);
              setParams(next);
            }}
          >
            {APPROVAL_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
            <option value="All">All</option>
          </select>
        </div>
        <button type="button" className="button-small" onClick={list.reload}>
          Refresh
        </button>
      </div>
      {done ? (
        <p className="alert alert-success" role="status">
          {done}
        </p>
      ) : null}
      {list.status === 'loading' ? <Progress label="Loading approval requests…" /> : null}
      <ErrorAlert error={list.error} context="The approval requests could not be listed." />
      {list.data?.length === 0 ? <p>No {status === 'All' ? '' : `${status.toLowerCase()} `}approval requests you may see.</p> : null}
      <div className="cards">
        {list.data?.map((request) => (
          <RequestCard key={request.ApprovalRequestId} request={request} me={identity.Arn} highlighted={request.ApprovalRequestId === highlighted} onVote={(v) => (action.clear(), setVote(v))} />
        ))}
      </div>
      {vote ? (
        <ConfirmDialog
          title={`${vote.decision === 'Approve' ? 'Approve' : 'Reject'} ${vote.request.Operation}?`}
          confirmLabel={vote.decision}
          busyLabel={vote.decision === 'Approve' ? 'Approving…' : 'Rejecting…'}
          busy={action.busy}
          error={action.error}
          danger={vote.decision === 'Reject'}
          onClose={() => setVote(undefined)}
          onConfirm={() => void cast()}
        >
          <p>
            {vote.decision === 'Approve'
              ? `Let ${vote.request.Requester} run ${vote.request.Operation} once, with exactly the parameters shown.`
              : 'The request is closed for good; the requester has to ask again.'}
          </p>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
