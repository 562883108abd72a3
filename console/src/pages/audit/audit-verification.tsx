/**
 * The audit chain's verification, per node, as VerifyAuditTrail reports it: up to which sequence
 * each node's records are chained and vouched for by a digest signed in the HSM, what is not yet
 * signed, and every problem found with where it is (file, line, sequence).
 */
import type { ReactElement } from 'react';
import type { ApiFailure } from '../../api/errors.js';
import type { AuditFinding, AuditNodeSummary, AuditVerification } from '../../api/hsmkms-api.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';

/** Where a record stands, by the verification: signed, not yet signed, tampered with, or not checked. */
export type RecordStanding =
  | { kind: 'signed'; signedThrough: number }
  | { kind: 'unsigned'; signedThrough: number | undefined }
  | { kind: 'problem'; findings: AuditFinding[] }
  | { kind: 'unchecked' };

export function recordStanding(verification: AuditVerification | undefined, nodeId: string, sequence: number): RecordStanding {
  if (!verification) return { kind: 'unchecked' };
  const findings = verification.Findings.filter((f) => f.Severity === 'problem' && f.NodeId === nodeId && f.Sequence === sequence);
  if (findings.length > 0) return { kind: 'problem', findings };
  const node = verification.Nodes.find((n) => n.NodeId === nodeId);
  if (!node || node.FirstSequence === undefined || node.LastSequence === undefined || sequence < node.FirstSequence || sequence > node.LastSequence)
    return { kind: 'unchecked' };
  if (node.SignedThrough !== undefined && sequence <= node.SignedThrough) return { kind: 'signed', signedThrough: node.SignedThrough };
  return { kind: 'unsigned', signedThrough: node.SignedThrough };
}

function nodeProblems(verification: AuditVerification, node: AuditNodeSummary): AuditFinding[] {
  return verification.Findings.filter((f) => f.NodeId === node.NodeId && f.Severity === 'problem');
}

function NodeStatus({ verification, node }: { verification: AuditVerification; node: AuditNodeSummary }): ReactElement {
  const problems = nodeProblems(verification, node);
  if (problems.length > 0)
    return (
      <span className="status-error">
        <span aria-hidden="true">✗ </span>
        {problems.length} problem{problems.length === 1 ? '' : 's'} found
      </span>
    );
  if (node.SignedThrough === undefined)
    return (
      <span className="status-warn">
        <span aria-hidden="true">… </span>Chained; no signed digest yet
      </span>
    );
  return (
    <span className="status-ok">
      <span aria-hidden="true">✓ </span>Verified up to sequence {node.SignedThrough}
    </span>
  );
}

function Where({ finding }: { finding: AuditFinding }): ReactElement {
  const parts = [finding.File, finding.Line !== undefined ? `line ${finding.Line}` : undefined, finding.Sequence !== undefined ? `sequence ${finding.Sequence}` : undefined].filter(Boolean);
  return <span className="mono small">{parts.join(', ') || '—'}</span>;
}

export function AuditVerificationSection(props: { verification: AuditVerification | undefined; busy: boolean; error: ApiFailure | undefined; onVerify: () => void }): ReactElement {
  const { verification: v, busy, error, onVerify } = props;
  const problems = v?.Findings.filter((f) => f.Severity === 'problem') ?? [];
  return (
    <Section
      id="verification"
      title="Chain verification"
      actions={
        <button type="button" className="button-small" onClick={onVerify} disabled={busy}>
          Verify again
        </button>
      }
    >
      <p className="muted">
        Every record names the hash of the one before it; digests signed in the HSM vouch for everything before them. The service checks the chain
        and every signature with the audit key’s public key, as <code>hsmkms audit verify</code> does offline.
      </p>
      {busy ? <Progress label="Verifying the audit chain…" /> : null}
      <ErrorAlert error={error} context="The audit trail could not be verified." />
      {v && !busy ? (
        <>
          <div className={v.Ok ? 'alert alert-success' : 'alert alert-error'} role="status">
            <p>
              <strong>{v.Ok ? 'Verified: no record was changed, removed, reordered or inserted.' : `Problems found: ${problems.length}.`}</strong> Records from{' '}
              <DateTime value={v.From} precise /> to <DateTime value={v.To} precise />
              {v.KeyFingerprint ? (
                <>
                  , signatures checked with key <code className="small">{v.KeyFingerprint.slice(0, 16)}…</code>
                </>
              ) : (
                ', signatures not checked'
              )}
              .
            </p>
          </div>
          {v.Nodes.length === 0 ? (
            <p>No audit records in this range.</p>
          ) : (
            <table className="table table-cards" aria-label="Verification by node">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Status</th>
                  <th scope="col">Records</th>
                  <th scope="col">Sequences</th>
                  <th scope="col">Not yet signed</th>
                  <th scope="col">Last record</th>
                </tr>
              </thead>
              <tbody>
                {v.Nodes.map((node) => (
                  <tr key={node.NodeId}>
                    <th scope="row" data-label="Node" className="mono">
                      {node.NodeId}
                    </th>
                    <td data-label="Status">
                      <NodeStatus verification={v} node={node} />
                    </td>
                    <td data-label="Records">
                      {node.Records} in {node.Files} file{node.Files === 1 ? '' : 's'}, {node.Digests} digest{node.Digests === 1 ? '' : 's'}
                    </td>
                    <td data-label="Sequences">
                      {node.FirstSequence !== undefined ? `${node.FirstSequence}–${node.LastSequence}` : '—'}
                    </td>
                    <td data-label="Not yet signed">
                      {node.LastSequence === undefined
                        ? '—'
                        : node.SignedThrough === undefined
                          ? `all (${node.FirstSequence}–${node.LastSequence})`
                          : node.SignedThrough >= node.LastSequence
                            ? 'none'
                            : `${node.SignedThrough + 1}–${node.LastSequence} (until the next digest)`}
                    </td>
                    <td data-label="Last record">
                      <DateTime value={node.LastTime} precise />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {v.Findings.length > 0 ? (
            <table className="table table-cards" aria-label="Findings">
              <thead>
                <tr>
                  <th scope="col">Finding</th>
                  <th scope="col">Node</th>
                  <th scope="col">Where</th>
                  <th scope="col">What</th>
                </tr>
              </thead>
              <tbody>
                {v.Findings.map((f, i) => (
                  <tr key={i} className={f.Severity === 'problem' ? 'row-problem' : undefined}>
                    <th scope="row" data-label="Finding">
                      <span className={f.Severity === 'problem' ? 'status-error' : 'muted'}>{f.Severity === 'problem' ? 'Problem' : 'Note'}</span>: {f.Kind}
                    </th>
                    <td data-label="Node" className="mono small">
                      {f.NodeId}
                    </td>
                    <td data-label="Where">
                      <Where finding={f} />
                    </td>
                    <td data-label="What">{f.Message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {v.FindingsTruncated ? <p className="muted">More findings exist than the service lists; narrow the time range, or run hsmkms audit verify.</p> : null}
        </>
      ) : null}
    </Section>
  );
}
