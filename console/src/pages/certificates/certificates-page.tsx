/**
 * The private CA: pick a CA, see its chain and CRL (the public /ca/NAME/* endpoints), list the
 * certificates it issued with their status, issue one from a pasted CSR, and revoke one with a
 * reason. Whether the caller may list, issue or revoke is decided by the CA's KMS keys (the
 * intermediate's DescribeKey and Sign), so every refusal is the service's own.
 */
import { useEffect, useId, useState, type ReactElement } from 'react';
import { useSearchParams } from 'react-router';
import {
  REVOCATION_REASONS,
  type CertificateAuthority,
  type CertificateStatus,
  type CertificateSummary,
  type RevocationReason,
} from '../../api/hsmkms-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { LoadMore } from '../../components/load-more.js';
import { Part } from '../../components/loaded-part.js';
import { Page, Section } from '../../components/page.js';
import { Progress } from '../../components/progress.js';
import { useAction, useLoad } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';
import { IssueCertificateDialog } from './issue-certificate-dialog.js';

const STATUSES: readonly CertificateStatus[] = ['GOOD', 'REVOKED', 'EXPIRED'];
const LEAF_KINDS: ReadonlySet<string> = new Set(['tls-server', 'tls-client', 'code-signing']);

const REASON_TEXT: Record<RevocationReason, string> = {
  UNSPECIFIED: 'Unspecified',
  KEY_COMPROMISE: 'Key compromise (the private key leaked)',
  CERTIFICATE_AUTHORITY_COMPROMISE: 'CA compromise',
  AFFILIATION_CHANGED: 'Affiliation changed',
  SUPERSEDED: 'Superseded (replaced by a new certificate)',
  CESSATION_OF_OPERATION: 'Cessation of operation (no longer used)',
  PRIVILEGE_WITHDRAWN: 'Privilege withdrawn',
};

/** The CA's published objects on this server (relative: the page's own origin serves them). */
function publicPath(caName: string, file: 'ca.pem' | 'crl'): string {
  return `/ca/${encodeURIComponent(caName)}/${file}`;
}

function CertificateStatusBadge({ status }: { status: string }): ReactElement {
  return <span className={`badge badge-cert-${status.toLowerCase()}`}>{status === 'GOOD' ? 'Valid' : status === 'REVOKED' ? 'Revoked' : status === 'EXPIRED' ? 'Expired' : status}</span>;
}

function AuthorityDetails({ ca }: { ca: CertificateAuthority }): ReactElement {
  return (
    <Section id="authority" title={`CA ${ca.CaName}`}>
      <dl className="details">
        <div>
          <dt>Status</dt>
          <dd>
            <span className={`badge badge-ca-${ca.Status.toLowerCase()}`}>{ca.Status}</span>
          </dd>
        </div>
        <div>
          <dt>Key spec</dt>
          <dd>
            {ca.KeySpec} ({ca.SigningAlgorithm})
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <DateTime value={ca.CreationDate} />
          </dd>
        </div>
        <div>
          <dt>Intermediate valid until</dt>
          <dd>
            <DateTime value={ca.IntermediateNotAfter} withRelative />
          </dd>
        </div>
        <div>
          <dt>CRL distribution point</dt>
          <dd className="mono small wrap">{ca.Urls.Crl}</dd>
        </div>
        <div>
          <dt>OCSP responder</dt>
          <dd className="mono small wrap">{ca.Urls.Ocsp}</dd>
        </div>
      </dl>
      <div className="button-row">
        <a className="button-link" href={publicPath(ca.CaName, 'ca.pem')} download={`${ca.CaName}-ca.pem`}>
          Download CA chain (ca.pem)
        </a>
        <a className="button-link" href={publicPath(ca.CaName, 'crl')} download={`${ca.CaName}.crl`}>
          Download CRL
        </a>
      </div>
    </Section>
  );
}

export default function CertificatesPage(): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const [params, setParams] = useSearchParams();
  const authorities = useLoad(async () => (await hsmkms.call('ListCertificateAuthorities', {})).CertificateAuthorities, [hsmkms]);
  const caName = params.get('ca') ?? authorities.data?.[0]?.CaName ?? '';
  const ca = authorities.data?.find((a) => a.CaName === caName);
  const status = (params.get('status') ?? '') as CertificateStatus | '';
  const [marker, setMarker] = useState<string>();
  const [generation, setGeneration] = useState(0);
  const [pages, setPages] = useState<CertificateSummary[][]>([]);
  const [issuing, setIssuing] = useState(false);
  const [revoking, setRevoking] = useState<CertificateSummary>();
  const [reason, setReason] = useState<RevocationReason>('UNSPECIFIED');
  const [note, setNote] = useState<string>();
  const revoke = useAction();

  useEffect(() => {
    setMarker(undefined);
    setPages([]);
  }, [caName, status]);
  const list = useLoad(async () => {
    if (!caName) return undefined;
    const page = await hsmkms.call('ListCertificates', { CaName: caName, Limit: 100, ...(status ? { Status: status } : {}), ...(marker ? { Marker: marker } : {}) });
    setPages((previous) => (marker ? [...previous, page.Certificates] : [page.Certificates]));
    return page;
  }, [hsmkms, caName, status, marker, generation]);
  const certificates = pages.flat();
  const reload = () => {
    setMarker(undefined);
    setGeneration((g) => g + 1);
  };
  const choose = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next);
  };

  const confirmRevoke = async () => {
    if (!revoking) return;
    const answer = await revoke.run(() => hsmkms.call('RevokeCertificate', { CaName: caName, SerialNumber: revoking.SerialNumber, RevocationReason: reason }));
    if (answer) {
      setNote(`Certificate ${answer.SerialNumber} (${answer.Subject}) is revoked: ${answer.RevocationReason}.${answer.CrlUpdated ? ' The CRL is updated.' : ''}`);
      setRevoking(undefined);
      reload();
    }
  };

  return (
    <Page
      title="Certificates"
      actions={
        ca ? (
          <button type="button" className="button-primary" onClick={() => setIssuing(true)} disabled={ca.Status !== 'ACTIVE'}>
            Issue certificate
          </button>
        ) : undefined
      }
    >
      <Part loaded={authorities} what="certificate authorities">
        {(list) =>
          list.length === 0 ? (
            <p>
              No private CA yet. Create one with <code>hsmkms ca init --name NAME --subject "CN=…" --base-url http://HOST:PORT</code>.
            </p>
          ) : (
            <div className="filters">
              <div className="field">
                <label htmlFor={`${id}-ca`}>Certificate authority</label>
                <select id={`${id}-ca`} value={caName} onChange={(e) => choose('ca', e.target.value)}>
                  {list.map((a) => (
                    <option key={a.CaName} value={a.CaName}>
                      {a.CaName} ({a.Status})
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor={`${id}-status`}>Status</label>
                <select id={`${id}-status`} value={status} onChange={(e) => choose('status', e.target.value)}>
                  <option value="">Any</option>
                  {STATUSES.map((s) => (
                    <option key={s} value={s}>
                      {s === 'GOOD' ? 'Valid' : s === 'REVOKED' ? 'Revoked' : 'Expired'}
                    </option>
                  ))}
                </select>
              </div>
            </div>
          )
        }
      </Part>
      {caName && authorities.status === 'done' && !ca ? <p className="alert alert-warning">There is no CA named {caName}.</p> : null}
      {note ? (
        <p className="alert alert-success" role="status">
          {note}
        </p>
      ) : null}
      {ca ? <AuthorityDetails ca={ca} /> : null}

      {ca ? (
        <Section id="issued" title="Issued certificates">
          {list.status === 'loading' ? <Progress label="Listing certificates…" /> : null}
          <ErrorAlert error={list.error} context="The certificates could not be listed." />
          {list.status === 'done' && certificates.length === 0 && !list.data?.Truncated ? <p>No {status ? 'such ' : ''}certificates.</p> : null}
          {certificates.length > 0 ? (
            <table className="table table-cards" aria-label="Certificates">
              <thead>
                <tr>
                  <th scope="col">Subject</th>
                  <th scope="col">Serial number</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Valid until</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {certificates.map((c) => (
                  <tr key={c.SerialNumber}>
                    <th scope="row" data-label="Subject" className="wrap">
                      {c.Subject}
                    </th>
                    <td data-label="Serial number" className="mono small wrap">
                      {c.SerialNumber}
                    </td>
                    <td data-label="Kind">{c.Kind}</td>
                    <td data-label="Valid until">
                      <DateTime value={c.NotAfter} />
                    </td>
                    <td data-label="Status">
                      <CertificateStatusBadge status={c.Status} />
                      {c.RevocationDate ? (
                        <div className="small muted">
                          <DateTime value={c.RevocationDate} />
                          {c.RevocationReason ? `, ${c.RevocationReason}` : ''}
                        </div>
                      ) : null}
                    </td>
                    <td data-label="Actions">
                      {c.Status === 'GOOD' && LEAF_KINDS.has(c.Kind) ? (
                        <button
                          type="button"
                          className="button-small button-danger-quiet"
                          aria-label={`Revoke ${c.Subject} (${c.SerialNumber})`}
                          onClick={() => {
                            revoke.clear();
                            setReason('UNSPECIFIED');
                            setRevoking(c);
                          }}
                        >
                          Revoke…
                        </button>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <LoadMore page={list.data} what="certificates" onMore={setMarker} />
        </Section>
      ) : null}

      {issuing && ca ? (
        <IssueCertificateDialog
          caName={ca.CaName}
          onClose={() => setIssuing(false)}
          onIssued={() => {
            setNote(undefined);
            reload();
          }}
        />
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke ${revoking.Subject}?`}
          confirmLabel="Revoke certificate"
          busyLabel="Revoking and updating the CRL…"
          busy={revoke.busy}
          error={revoke.error}
          danger
          onClose={() => setRevoking(undefined)}
          onConfirm={() => void confirmRevoke()}
        >
          <p>
            Serial <code>{revoking.SerialNumber}</code>. Relying parties that check the CRL or ask the OCSP responder will refuse it from now on. A
            revocation cannot be undone.
          </p>
          <div className="field">
            <label htmlFor={`${id}-reason`}>Reason</label>
            <select id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.target.value as RevocationReason)}>
              {REVOCATION_REASONS.map((r) => (
                <option key={r} value={r}>
                  {REASON_TEXT[r]}
                </option>
              ))}
            </select>
          </div>
        </ConfirmDialog>
      ) : null}
    </Page>
  );
}
