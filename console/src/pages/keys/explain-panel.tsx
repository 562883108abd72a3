/**
 * "Why would this be denied?": HsmKms.ExplainAuthorization for a principal, an action on this
 * key and a request context, showing the decision, what decided it, and every statement with
 * the conditions compared. It runs again by itself after the key policy is saved.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type ReactElement } from 'react';
import { ROLE_TABLE } from '../../../../src/core/authorization/role-table.js';
import type { Explanation, HsmKmsOperations } from '../../api/hsmkms-api.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

/** The actions that act on a key, from the server's own role table. */
const KEY_ACTIONS = [...ROLE_TABLE.entries()].filter(([action, row]) => row.scope === 'key' && action.startsWith('kms:')).map(([action]) => action);

type ExplainInput = HsmKmsOperations['ExplainAuthorization']['input'];

/** `k=v` lines → an encryption context; undefined when empty; an error message when malformed. */
export function parseContext(text: string): Record<string, string> | undefined | string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) return `“${line.slice(0, 40)}” is not key=value.`;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

const DECISION_TEXT: Record<Explanation['Decision'], string> = {
  Allow: 'Allowed',
  ExplicitDeny: 'Denied by an explicit Deny',
  ImplicitDeny: 'Denied (nothing allows it)',
  QuorumRequired: 'Allowed after quorum approval',
};

function Held({ value }: { value: boolean }): ReactElement {
  return <span className={value ? 'status-ok' : 'status-error'}>{value ? 'yes' : 'no'}</span>;
}

function ExplanationView({ explanation, rerun }: { explanation: Explanation; rerun: boolean }): ReactElement {
  const e = explanation;
  return (
    <div className="explanation">
      <p className={`decision decision-${e.Decision.toLowerCase()}`}>
        <strong className="decision-value" data-decision={e.Decision}>
          {e.Decision}
        </strong>{' '}
        — {DECISION_TEXT[e.Decision]}
        {rerun ? <span className="muted"> (explained again after the key policy changed)</span> : null}
      </p>
      <p className="decision-summary">{e.Summary}</p>
      <dl className="details">
        <div>
          <dt>Principal</dt>
          <dd className="wrap">
            {e.Principal.Arn} ({e.Principal.Root ? 'account root' : e.Principal.Roles.join(', ')})
          </dd>
        </div>
        <div>
          <dt>Decided by</dt>
          <dd>{e.DecidedBy}</dd>
        </div>
        <div>
          <dt>Role rule</dt>
          <dd>
            {e.RoleRule.Rule}
            {e.RoleRule.Role ? ` (${e.RoleRule.Role}: ${e.RoleRule.Category})` : ''}
            {e.RoleRule.Note ? ` — ${e.RoleRule.Note}` : ''}
          </dd>
        </div>
        {e.KeyOwner ? (
          <div>
            <dt>Key owner</dt>
            <dd className="wrap">{e.KeyOwner}</dd>
          </div>
        ) : null}
        {e.GrantId ? (
          <div>
            <dt>Grant</dt>
            <dd className="mono">{e.GrantId}</dd>
          </div>
        ) : null}
        {e.QuorumRules?.length ? (
          <div>
            <dt>Quorum rules</dt>
            <dd>{e.QuorumRules.map((r) => `${r.RuleId}: ${r.MinApprovals} of ${r.Approvers.length} approvers`).join('; ')}</dd>
          </div>
        ) : null}
        {e.Message ? (
          <div>
            <dt>Message</dt>
            <dd>{e.Message}</dd>
          </div>
        ) : null}
      </dl>
      {e.Statements && e.Statements.length > 0 ? (
        <table className="table table-cards" aria-label="Policy statements evaluated">
          <thead>
            <tr>
              <th scope="col">Statement</th>
              <th scope="col">Effect</th>
              <th scope="col">Applies</th>
              <th scope="col">Principal / action / resource matched</th>
              <th scope="col">Conditions</th>
            </tr>
          </thead>
          <tbody>
            {e.Statements.map((s) => {
              const decisive = e.DecisiveStatements?.some((d) => d.Policy === s.Policy && d.Index === s.Index);
              return (
                <tr key={`${s.Policy}-${s.Index}`} className={decisive ? 'row-decisive' : undefined}>
                  <th scope="row" data-label="Statement">
                    {s.PolicyType === 'key' ? 'Key policy' : `Identity policy ${s.Policy}`} · {s.Sid ? `“${s.Sid}”` : `#${s.Index}`}
                    {decisive ? <span className="badge badge-decisive">decisive</span> : null}
                  </th>
                  <td data-label="Effect">{s.Effect}</td>
                  <td data-label="Applies">
                    <Held value={s.Applies} />
                  </td>
                  <td data-label="Matched">
                    <Held value={s.PrincipalMatched} /> / <Held value={s.ActionMatched} /> / <Held value={s.ResourceMatched} />
                  </td>
                  <td data-label="Conditions">
                    {s.Conditions.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      <ul className="plain-list">
                        {s.Conditions.map((c, i) => (
                          <li key={i}>
                            <code>
                              {c.Operator} {c.Key}
                            </code>{' '}
                            expects {JSON.stringify(c.PolicyValues)}, request has {c.RequestValues === null ? 'nothing' : JSON.stringify(c.RequestValues)}:{' '}
                            <Held value={c.Held} />
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

export function ExplainPanel({ keyId, policyVersion }: { keyId: string; policyVersion: number }): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const [principal, setPrincipal] = useState('');
  const [action, setAction] = useState('kms:Decrypt');
  const [context, setContext] = useState('');
  const [sourceIp, setSourceIp] = useState('');
  const [problem, setProblem] = useState<string>();
  const [result, setResult] = useState<{ explanation: Explanation; rerun: boolean }>();
  const last = useRef<{ input: ExplainInput; version: number }>(undefined);
  const call = useAction();

  const explain = async (input: ExplainInput, rerun: boolean) => {
    const answer = await call.run(() => hsmkms.call('ExplainAuthorization', input));
    if (answer) setResult({ explanation: answer.Explanation, rerun });
  };

  // The policy changed since the last answer: ask again, so the new answer is in front of the reader.
  useEffect(() => {
    const previous = last.current;
    if (previous && previous.version !== policyVersion) {
      last.current = { ...previous, version: policyVersion };
      void explain(previous.input, true);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [policyVersion]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const who = principal.trim();
    const encryptionContext = parseContext(context);
    if (typeof encryptionContext === 'string') {
      setProblem(`Encryption context: ${encryptionContext}`);
      return;
    }
    setProblem(undefined);
    const input: ExplainInput = {
      ...(who.startsWith('arn:') ? { PrincipalArn: who } : { UserName: who }),
      Action: action.trim(),
      KeyId: keyId,
      ...(encryptionContext ? { EncryptionContext: encryptionContext } : {}),
      ...(sourceIp.trim() ? { SourceIp: sourceIp.trim() } : {}),
    };
    last.current = { input, version: policyVersion };
    void explain(input, false);
  };

  return (
    <Section id="explain" title="Why would this be denied?">
      <p className="muted">
        Asks the service how it would decide a call on this key by a principal, with the saved key policy, the principal’s roles and identity
        policies, grants and quorum rules. Nothing is changed and no approval request is opened.
      </p>
      <form onSubmit={submit} className="form explain-form">
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-principal`}>Principal (user name or ARN)</label>
            <input id={`${id}-principal`} required value={principal} onChange={(e) => setPrincipal(e.target.value)} autoComplete="off" spellCheck={false} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-action`}>Action</label>
            <input id={`${id}-action`} required list={`${id}-actions`} value={action} onChange={(e) => setAction(e.target.value)} autoComplete="off" spellCheck={false} />
            <datalist id={`${id}-actions`}>
              {KEY_ACTIONS.map((a) => (
                <option key={a} value={a} />
              ))}
            </datalist>
          </div>
        </div>
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-context`}>Encryption context (one key=value per line, optional)</label>
            <textarea id={`${id}-context`} rows={2} className="code" value={context} onChange={(e) => setContext(e.target.value)} spellCheck={false} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-ip`}>Source IP (optional)</label>
            <input id={`${id}-ip`} value={sourceIp} onChange={(e) => setSourceIp(e.target.value)} inputMode="decimal" autoComplete="off" />
          </div>
        </div>
        {problem ? (
          <p className="status-error" role="alert">
            {problem}
          </p>
        ) : null}
        <div className="button-row">
          <button type="submit" className="button-primary" disabled={call.busy}>
            Explain
          </button>
        </div>
      </form>
      {call.busy ? <Progress label="Asking the service…" /> : null}
      <ErrorAlert error={call.error} context="The decision could not be explained." />
      <div aria-live="polite" className="explain-result">
        {result && !call.busy ? <ExplanationView explanation={result.explanation} rerun={result.rerun} /> : null}
      </div>
    </Section>
  );
}
