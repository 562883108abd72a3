/**
 * A policy document editor that validates as you type, with the server's own rules: JSON first
 * (with the line and column of the first error), then the IAM policy grammar as hsmkms accepts it
 * (src/core/policy/policy-document.ts, the code PutKeyPolicy runs), then — for a key policy —
 * AWS's lockout safety check for the person editing it.
 */
import { useId, useMemo, useRef, type ReactElement } from 'react';
import { KmsError } from '../../../src/core/errors.js';
import { checkPolicyLockout } from '../../../src/core/policy/lockout-check.js';
import { parsePolicyDocument, type PolicyKind } from '../../../src/core/policy/policy-document.js';

export type PolicyCheck =
  | { ok: true; statements: number }
  | { ok: false; name: string; message: string; position?: number; line?: number; column?: number };

export interface PolicyEditorCaller {
  principalArn: string;
  accountId: string;
  partition: string;
}

function lineAndColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return { line, column: position - before.lastIndexOf('\n') };
}

/** Checks a policy as the server would; `caller` adds the lockout check for key policies. */
export function checkPolicy(text: string, kind: PolicyKind, caller?: PolicyEditorCaller): PolicyCheck {
  if (text.trim() === '') return { ok: false, name: 'ValidationException', message: 'The policy is empty.' };
  try {
    JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const at = /position (\d+)/.exec(message);
    const position = at ? Number(at[1]) : text.length;
    return { ok: false, name: 'JSON', message: message.replace(/\s*\(line \d+ column \d+\)/, ''), position, ...lineAndColumn(text, position) };
  }
  try {
    const parsed = parsePolicyDocument(text, { kind });
    if (kind === 'resource' && caller) checkPolicyLockout(parsed, caller);
    return { ok: true, statements: parsed.statements.length };
  } catch (error) {
    if (error instanceof KmsError) return { ok: false, name: error.type, message: error.message };
    throw error;
  }
}

export interface PolicyEditorProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  kind: PolicyKind;
  caller?: PolicyEditorCaller | undefined;
  readOnly?: boolean;
  rows?: number;
}

export function PolicyEditor({ label, value, onChange, kind, caller, readOnly, rows = 18 }: PolicyEditorProps): ReactElement {
  const id = useId();
  const area = useRef<HTMLTextAreaElement>(null);
  const check = useMemo(() => checkPolicy(value, kind, caller), [value, kind, caller]);
  const noun = kind === 'resource' ? 'key policy' : 'identity policy';

  const goToError = () => {
    if (check.ok || check.position === undefined || !area.current) return;
    area.current.focus();
    area.current.setSelectionRange(check.position, Math.min(value.length, check.position + 1));
  };
  const format = () => {
    try {
      onChange(JSON.stringify(JSON.parse(value), null, 2));
    } catch {
      goToError();
    }
  };

  return (
    <div className="field policy-editor">
      <label htmlFor={`${id}-text`}>{label}</label>
      <textarea
        ref={area}
        id={`${id}-text`}
        className="code"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        rows={rows}
        spellCheck={false}
        autoCapitalize="off"
        autoComplete="off"
        autoCorrect="off"
        readOnly={readOnly}
        aria-invalid={!check.ok}
        aria-describedby={`${id}-status`}
      />
      <div className="policy-status-row">
        <p id={`${id}-status`} className={check.ok ? 'policy-status status-ok' : 'policy-status status-error'} role="status" aria-live="polite">
          {check.ok ? (
            <>
              <span aria-hidden="true">✓ </span>Valid {noun}: {check.statements} statement{check.statements === 1 ? '' : 's'}.
            </>
          ) : (
            <>
              <span aria-hidden="true">✗ </span>
              <strong>{check.name === 'JSON' ? 'Not valid JSON' : check.name}</strong>
              {check.line !== undefined ? ` (line ${check.line}, column ${check.column})` : ''}: {check.message}
            </>
          )}
        </p>
        {!readOnly ? (
          <div className="button-row">
            {!check.ok && check.position !== undefined ? (
              <button type="button" className="button-small" onClick={goToError}>
                Go to error
              </button>
            ) : null}
            <button type="button" className="button-small" onClick={format} disabled={check.ok === false && check.name === 'JSON'}>
              Format JSON
            </button>
          </div>
        ) : null}
      </div>
    </div>
  );
}
