/**
 * A policy document editor that validates as you type (see policy-check.ts): the reader sees
 * the first problem with its line and column, can jump to it, and can reformat the JSON.
 */
import { useId, useMemo, useRef, type ReactElement } from 'react';
import type { PolicyKind } from '../../../src/core/policy/policy-document.js';
import { checkPolicy, type PolicyEditorCaller } from './policy-check.js';

export { checkPolicy } from './policy-check.js';

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
