/**
 * Issue a certificate from a pasted (or opened) PKCS#10 CSR: the CA signs it with its
 * intermediate key in the HSM, with the profile's extensions and the chosen validity. The leaf
 * and its chain are then shown, to copy or download.
 */
import { useId, useState, type ChangeEvent, type FormEvent, type ReactElement } from 'react';
import { CERTIFICATE_PROFILES, MAX_CSR_BYTES, type CertificateProfile, type IssuedCertificate } from '../../api/hsmkms-api.js';
import { Dialog } from '../../components/dialog.js';
import { DownloadLink } from '../../components/download-link.js';
import { ErrorAlert } from '../../components/error-alert.js';
import { DateTime } from '../../components/format.js';
import { Progress } from '../../components/progress.js';
import { useAction } from '../../components/use-call.js';
import { useSession } from '../../session/session.js';

const CSR_PEM = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----/;
/** The service also takes base64 of the DER (a plain character class: linear). */
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

const PROFILE_TEXT: Record<CertificateProfile, string> = {
  'tls-server': 'TLS server (serverAuth; DNS and IP names)',
  'tls-client': 'TLS client (clientAuth)',
  'code-signing': 'Code signing (codeSigning)',
};

/** The file name a certificate is saved under: its subject's CN, else its serial. */
function fileBase(issued: IssuedCertificate): string {
  const cn = /(?:^|,)\s*CN=([^,]+)/.exec(issued.Subject)?.[1]?.trim();
  return (cn ?? issued.SerialNumber).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 64) || 'certificate';
}

export function IssuedView({ issued }: { issued: IssuedCertificate }): ReactElement {
  const id = useId();
  const base = fileBase(issued);
  const fullChain = `${issued.Certificate.trimEnd()}\n${issued.CertificateChain.trimEnd()}\n`;
  return (
    <div className="issued">
      <dl className="details">
        <div>
          <dt>Subject</dt>
          <dd className="wrap">{issued.Subject}</dd>
        </div>
        <div>
          <dt>Serial number</dt>
          <dd className="mono wrap">{issued.SerialNumber}</dd>
        </div>
        <div>
          <dt>Valid</dt>
          <dd>
            <DateTime value={issued.NotBefore} /> – <DateTime value={issued.NotAfter} />
          </dd>
        </div>
        <div>
          <dt>Profile</dt>
          <dd>{issued.Kind}</dd>
        </div>
      </dl>
      <div className="field">
        <label htmlFor={`${id}-leaf`}>Certificate (PEM)</label>
        <textarea id={`${id}-leaf`} className="code" rows={6} readOnly value={issued.Certificate} onFocus={(e) => e.currentTarget.select()} />
      </div>
      <div className="field">
        <label htmlFor={`${id}-chain`}>Chain: intermediate, then root (PEM)</label>
        <textarea id={`${id}-chain`} className="code" rows={6} readOnly value={issued.CertificateChain} onFocus={(e) => e.currentTarget.select()} />
      </div>
      <div className="button-row">
        <DownloadLink text={issued.Certificate} fileName={`${base}.pem`}>
          Download certificate
        </DownloadLink>
        <DownloadLink text={fullChain} fileName={`${base}-fullchain.pem`}>
          Download certificate with chain
        </DownloadLink>
        <DownloadLink text={issued.CertificateChain} fileName={`${base}-chain.pem`}>
          Download chain only
        </DownloadLink>
      </div>
    </div>
  );
}

export function IssueCertificateDialog({ caName, onClose, onIssued }: { caName: string; onClose: () => void; onIssued: () => void }): ReactElement {
  const { hsmkms } = useSession();
  const id = useId();
  const action = useAction();
  const [csr, setCsr] = useState('');
  const [profile, setProfile] = useState<CertificateProfile>('tls-server');
  const [days, setDays] = useState('');
  const [fileProblem, setFileProblem] = useState<string>();
  const [issued, setIssued] = useState<IssuedCertificate>();

  const trimmed = csr.trim();
  const csrProblem =
    trimmed === ''
      ? undefined
      : new TextEncoder().encode(trimmed).length > MAX_CSR_BYTES
        ? `The CSR is larger than ${MAX_CSR_BYTES / 1024} KiB.`
        : CSR_PEM.test(trimmed) || BASE64.test(trimmed)
          ? undefined
          : 'Paste a PEM certificate request: -----BEGIN CERTIFICATE REQUEST----- …';
  const daysNumber = Number(days);
  const daysProblem = days.trim() === '' || (Number.isInteger(daysNumber) && daysNumber >= 1) ? undefined : 'Give a whole number of days, or leave it empty.';

  const open = async (event: ChangeEvent<HTMLInputElement>) => {
    setFileProblem(undefined);
    const file = event.target.files?.[0];
    if (!file) return;
    if (file.size > MAX_CSR_BYTES) {
      setFileProblem(`${file.name} is larger than ${MAX_CSR_BYTES / 1024} KiB: not a CSR.`);
      return;
    }
    setCsr(await file.text());
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (trimmed === '' || csrProblem || daysProblem) return;
    const answer = await action.run(() =>
      hsmkms.call('IssueCertificate', { CaName: caName, Csr: trimmed, Profile: profile, ...(days.trim() ? { ValidityDays: daysNumber } : {}) }),
    );
    if (answer) {
      setIssued(answer);
      onIssued();
    }
  };

  if (issued)
    return (
      <Dialog title="Certificate issued" onClose={onClose} wide>
        <IssuedView issued={issued} />
        <div className="dialog-actions">
          <button type="button" className="button-primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );

  return (
    <Dialog title={`Issue a certificate from ${caName}`} onClose={onClose} busy={action.busy} wide>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor={`${id}-csr`}>Certificate signing request (PEM)</label>
          <textarea
            id={`${id}-csr`}
            className="code"
            rows={10}
            value={csr}
            onChange={(e) => setCsr(e.target.value)}
            aria-invalid={csrProblem !== undefined}
            aria-describedby={`${id}-csr-hint`}
            spellCheck={false}
            autoFocus
          />
          <p id={`${id}-csr-hint`} className={csrProblem ? 'hint status-error' : 'hint'}>
            {csrProblem ?? (
              <>
                For example from <code>openssl req -new -key server.key -subj /CN=app.example.com -addext subjectAltName=DNS:app.example.com</code>.
                The subject and names come from the CSR; the CA checks its signature.
              </>
            )}
          </p>
        </div>
        <div className="field">
          <label htmlFor={`${id}-file`}>…or open a CSR file</label>
          <input id={`${id}-file`} type="file" accept=".csr,.pem,.req,application/pkcs10" onChange={(e) => void open(e)} aria-describedby={`${id}-file-hint`} />
          <p id={`${id}-file-hint`} className={fileProblem ? 'hint status-error' : 'hint'}>
            {fileProblem ?? 'Read in this page only; nothing is uploaded until you issue.'}
          </p>
        </div>
        <div className="field-pair">
          <div className="field">
            <label htmlFor={`${id}-profile`}>Profile</label>
            <select id={`${id}-profile`} value={profile} onChange={(e) => setProfile(e.target.value as CertificateProfile)}>
              {CERTIFICATE_PROFILES.map((p) => (
                <option key={p} value={p}>
                  {PROFILE_TEXT[p]}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={`${id}-days`}>Validity in days (optional)</label>
            <input
              id={`${id}-days`}
              type="number"
              min={1}
              inputMode="numeric"
              value={days}
              onChange={(e) => setDays(e.target.value)}
              aria-invalid={daysProblem !== undefined}
              aria-describedby={`${id}-days-hint`}
            />
            <p id={`${id}-days-hint`} className={daysProblem ? 'hint status-error' : 'hint'}>
              {daysProblem ?? 'Empty: the profile’s default. The service refuses more than the profile allows.'}
            </p>
          </div>
        </div>
        <ErrorAlert error={action.error} context="No certificate was issued." />
        {action.busy ? <Progress label="Signing the certificate with the CA’s key in the HSM…" /> : null}
        <div className="dialog-actions">
          <button type="button" onClick={onClose} disabled={action.busy}>
            Cancel
          </button>
          <button type="submit" className="button-primary" disabled={action.busy || trimmed === '' || csrProblem !== undefined || daysProblem !== undefined}>
            Issue certificate
          </button>
        </div>
      </form>
    </Dialog>
  );
}
