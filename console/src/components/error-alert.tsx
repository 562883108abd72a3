/** A failed call, as the service named it: the AWS exception name, then its message. */
import type { ReactElement } from 'react';
import { Link } from 'react-router';
import type { ApiFailure } from '../api/errors.js';

export function ErrorAlert({ error, context }: { error: ApiFailure | undefined; context?: string }): ReactElement | null {
  if (!error) return null;
  return (
    <div className="alert alert-error" role="alert">
      {context ? <p className="alert-context">{context}</p> : null}
      <p>
        <strong className="error-name">{error.name}</strong>: <span className="error-message">{error.message}</span>
      </p>
      {error.approvalRequestId ? (
        <p>
          Approval request <code>{error.approvalRequestId}</code> is waiting for approvers.{' '}
          <Link to={`/approvals?request=${error.approvalRequestId}`}>Open it in the approvals inbox</Link>, and repeat this same action once it is
          approved.
        </p>
      ) : null}
    </div>
  );
}
